-- Where a password-reset link asked for from the sign-in page returns the member once the new
-- password is set: the authorization request (`/authorize?...`) they had started, so that the
-- client's sign-in completes. NULL for links sent by an administrator.
ALTER TABLE account_tokens ADD COLUMN return_to TEXT;
