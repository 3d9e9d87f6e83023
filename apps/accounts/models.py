from django.contrib.auth.models import AbstractUser, BaseUserManager
from django.db import models
from django.db.models.functions import Lower

from apps.core.models import BaseModel


class UserManager(BaseUserManager):
    use_in_migrations = True

    def _create_user(self, email, password, **extra_fields):
        if not email:
            raise ValueError("An email address is required.")
        user = self.model(email=self.normalize_email(email), **extra_fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email, password=None, **extra_fields):
        extra_fields.setdefault("is_staff", False)
        extra_fields.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra_fields)

    def create_superuser(self, email, password=None, **extra_fields):
        extra_fields.setdefault("is_staff", True)
        extra_fields.setdefault("is_superuser", True)
        return self._create_user(email, password, **extra_fields)


class User(AbstractUser):
    """Signs in with an email address; there is no username."""

    class FlaggedImages(models.TextChoices):
        HIDE = "hide", "Hide them (safe only)"
        BLUR = "blur", "Show them blurred; I can reveal each one"

    username = None
    email = models.EmailField("email address", unique=True)
    # What the safety judge's flagged images look like to their owner (apps/review).
    flagged_images = models.CharField(max_length=8, choices=FlaggedImages.choices, default=FlaggedImages.HIDE)

    USERNAME_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    objects = UserManager()

    def __str__(self) -> str:
        return self.email


class ApiKey(BaseModel):
    """A named bearer key for the API. Only its SHA-256 is stored; the key is shown once."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, help_text="The first characters, to recognise a key.")
    key_hash = models.CharField(max_length=64, unique=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class Profile(BaseModel):
    """A person's public face: the handle of their artist page (/u/<handle>), avatar, bio and links.

    Handles are unique ignoring case; the stored spelling is the one shown."""

    user = models.OneToOneField(User, on_delete=models.CASCADE, primary_key=True, related_name="profile")
    handle = models.CharField(max_length=30)
    bio = models.TextField(max_length=500, blank=True)
    links = models.JSONField(default=list, blank=True, help_text="Up to three http(s) addresses.")
    avatar = models.ForeignKey("media.Upload", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        constraints = [models.UniqueConstraint(Lower("handle"), name="profile_handle_unique_ci")]

    def __str__(self) -> str:
        return f"@{self.handle}"
