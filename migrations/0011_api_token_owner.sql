-- Admin API tokens belong to the administrator who made them (NULL: made on the server's
-- command line by its operator) and expire. A token is refused once its administrator is
-- deactivated or is no longer an administrator, and revoked when that account's credentials
-- change. Tokens made before expiry existed get the longest lifetime a new one may have.
ALTER TABLE admin_api_tokens ADD COLUMN owner_account_id TEXT REFERENCES accounts (id);
ALTER TABLE admin_api_tokens ADD COLUMN expires_at BIGINT;
UPDATE admin_api_tokens SET expires_at = created_at + 31536000000;
CREATE INDEX admin_api_tokens_owner ON admin_api_tokens (owner_account_id);
