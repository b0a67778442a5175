-- The claims request parameter (OIDC Core 5.5): the claim names it asked for, for /userinfo
-- and for the ID token, kept with the code and carried to every token of its grant (JSON,
-- {"userinfo":[...],"id_token":[...]}; NULL when none of the names is one this provider
-- releases).
ALTER TABLE oidc_codes ADD COLUMN claims TEXT;
ALTER TABLE oidc_tokens ADD COLUMN claims TEXT;
