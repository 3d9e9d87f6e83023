from ninja import Field, Schema


class JudgeOut(Schema):
    name: str = Field(description="safety, format, quality, fidelity or vision.")
    passed: bool
    score: float
    reason: str = Field(description="One sentence for the user.")


class ReviewOut(Schema):
    verdict: str = Field(description="green (no judge failed), amber (one did), red (two or more), pending "
                                     "(judges still running) or not_reviewed.")
    nsfw_score: float | None = Field(description="The safety classifier's probability of adult content, 0–1.")
    quality_score: float | None = Field(description="Technical quality (sharpness, noise, exposure), 0–1.")
    withheld: bool = Field(description="Flagged by the safety judge (or hidden by staff): not shown plainly.")
    judges: list[JudgeOut]
