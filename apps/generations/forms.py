from django import forms


class GenerateForm(forms.Form):
    """Coerces the submitted fields; the rules live in `services.generation_create`."""

    model = forms.SlugField()
    prompt = forms.CharField(max_length=2000, strip=True)
    negative_prompt = forms.CharField(max_length=2000, required=False, strip=True)
    aspect_ratio = forms.CharField(max_length=10, required=False)
    tier = forms.CharField(max_length=30, required=False)
    num_images = forms.IntegerField(min_value=1, max_value=16, initial=1)
    seed = forms.CharField(max_length=40, required=False, strip=True)
    preset = forms.SlugField(required=False)  # a style chip
    # Edits started from the photo page.
    image_upload_id = forms.UUIDField(required=False)
    mask_upload_id = forms.UUIDField(required=False)
    strength = forms.FloatField(required=False, min_value=0.05, max_value=1)
