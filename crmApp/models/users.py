"""Users (log in by email) and their login sessions."""

from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.core.exceptions import ValidationError
from django.db import models

from crmApp.identity import identity_key, normalise_spelling
from crmApp.models.base import TimeStampedModel

#: The identifier columns and the comparable key each one keeps (crmApp.identity).
IDENTITY_KEYS = {"email": "email_key", "username": "username_key"}


class IdentityKeyField(models.CharField):
    """`identity_key` of another field of the row, computed whenever the row is written.

    `pre_save` runs for `save()` and for `bulk_create`, so no insert can skip it; `User.save`
    adds the key to a partial save that changes its source.
    """

    def __init__(self, *args, source: str, **kwargs):
        self.source = source
        kwargs.setdefault("editable", False)
        super().__init__(*args, **kwargs)

    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        kwargs["source"] = self.source
        kwargs.pop("editable", None)
        return name, path, args, kwargs

    def pre_save(self, model_instance, add):
        value = identity_key(getattr(model_instance, self.source) or "")
        setattr(model_instance, self.attname, value)
        return value


class UserManager(BaseUserManager):
    use_in_migrations = True

    def get_by_natural_key(self, username):
        """Looked up by the email's identity key; the stored spelling is kept."""
        return self.get(email_key=identity_key(username))

    def create_user(self, email: str, username: str, password: str | None = None, **extra):
        if not email:
            raise ValueError("Users must have an email address.")
        user = self.model(
            email=self.normalize_email(normalise_spelling(email)),
            username=normalise_spelling(username),
            **extra,
        )
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, username: str, password: str | None = None, **extra):
        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", True)
        return self.create_user(email, username, password, **extra)


class User(AbstractBaseUser, PermissionsMixin, TimeStampedModel):
    email = models.EmailField(max_length=255, unique=True)
    username = models.CharField(max_length=100, unique=True)
    # The comparable forms (crmApp.identity); their unique constraints are what make two
    # spellings of one identifier impossible. Sized for NFKC expansion of the longest inputs.
    email_key = IdentityKeyField(max_length=320, source="email")
    username_key = IdentityKeyField(max_length=320, source="username")
    first_name = models.CharField(max_length=100, blank=True, default="")
    last_name = models.CharField(max_length=100, blank=True, default="")
    phone = models.CharField(max_length=20, null=True, blank=True)
    is_active = models.BooleanField(default=True)
    is_verified = models.BooleanField(default=False)
    is_staff = models.BooleanField(default=False)
    email_verified_at = models.DateTimeField(null=True, blank=True)
    last_login_at = models.DateTimeField(null=True, blank=True)
    failed_login_attempts = models.PositiveIntegerField(default=0)
    locked_until = models.DateTimeField(null=True, blank=True)
    password_changed_at = models.DateTimeField(null=True, blank=True)
    must_change_password = models.BooleanField(default=False)
    two_factor_enabled = models.BooleanField(default=False)
    two_factor_secret = models.CharField(max_length=255, null=True, blank=True)
    #: Mail preferences: a notice when a task or a deal is assigned to the user, and the daily
    #: digest of their due and overdue tasks.
    notify_assignments = models.BooleanField(default=True)
    notify_digest = models.BooleanField(default=True)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS = ["username"]

    class Meta:
        db_table = "users"
        constraints = [
            models.UniqueConstraint(fields=["email_key"], name="users_email_key_unique"),
            models.UniqueConstraint(fields=["username_key"], name="users_username_key_unique"),
        ]

    def __str__(self) -> str:
        return self.email

    def save(self, *args, update_fields=None, **kwargs):
        if update_fields is not None:
            touched = set(update_fields)
            update_fields = [
                *touched,
                *(key for source, key in IDENTITY_KEYS.items() if source in touched),
            ]
        super().save(*args, update_fields=update_fields, **kwargs)

    def validate_constraints(self, exclude=None):
        """The key constraints reported on the field a form shows (the admin's add form)."""
        super().validate_constraints(exclude=exclude)
        clashes = {}
        for source, key in IDENTITY_KEYS.items():
            if exclude and source in exclude:
                continue
            taken = User.objects.filter(**{key: identity_key(getattr(self, source) or "")})
            if taken.exclude(pk=self.pk).exists():
                label = self._meta.get_field(source).verbose_name
                clashes[source] = [f"User with this {label} already exists."]
        if clashes:
            raise ValidationError(clashes)

    @property
    def full_name(self) -> str:
        name = f"{self.first_name} {self.last_name}".strip()
        return name or self.username


class UserSession(TimeStampedModel):
    """One login: the refresh token chain and every access token minted from it.

    Access and refresh tokens carry this row's id as the `sid` claim; authentication refuses a
    token whose session is revoked, so logout and "revoke" end the session at once.
    """

    # Looked up through the (user, expires_at) index, which leads with it.
    user = models.ForeignKey(
        User, on_delete=models.CASCADE, related_name="refresh_tokens", db_index=False
    )
    refresh_jti = models.CharField(max_length=64, db_index=True)
    expires_at = models.DateTimeField()
    is_revoked = models.BooleanField(default=False)
    revoked_at = models.DateTimeField(null=True, blank=True)
    device_info = models.CharField(max_length=255, null=True, blank=True)
    ip_address = models.CharField(max_length=45, null=True, blank=True)

    class Meta:
        db_table = "refresh_tokens"
        indexes = [models.Index(fields=["user", "expires_at"])]

    def __str__(self) -> str:
        return f"session {self.pk} of {self.user_id}"


class PasswordResetToken(TimeStampedModel):
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="password_reset_tokens")
    token = models.CharField(max_length=255, unique=True)
    expires_at = models.DateTimeField()
    is_used = models.BooleanField(default=False)
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "password_reset_tokens"
        indexes = [models.Index(fields=["token", "expires_at"])]


class EmailVerificationToken(TimeStampedModel):
    user = models.ForeignKey(
        User, on_delete=models.CASCADE, related_name="email_verification_tokens"
    )
    token = models.CharField(max_length=255, unique=True)
    expires_at = models.DateTimeField()
    is_used = models.BooleanField(default=False)
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "email_verification_tokens"
        indexes = [models.Index(fields=["token", "expires_at"])]
