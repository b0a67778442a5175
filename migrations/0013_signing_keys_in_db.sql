-- Private signing keys in the database, sealed (ChaCha20-Poly1305, `sealed:v1:` + base64url of
-- nonce, ciphertext and tag) with a key derived from the pepper of keys_dir, the ciphertext
-- bound to its kid: the pepper file is then the only secret every instance needs. NULL for a
-- key whose private half is still a PEM file in keys_dir (made by an earlier version; `serve`
-- moves it here at start) and for a retired key, whose private half is erased.
ALTER TABLE oidc_signing_keys ADD COLUMN private_key TEXT;
