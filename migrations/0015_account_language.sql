-- The language a member last used on the member-facing pages (a BCP 47 tag such as `fr`),
-- so that mails an administrator starts (an invitation, a reset) speak it. NULL: never seen.
ALTER TABLE accounts ADD COLUMN language TEXT;
