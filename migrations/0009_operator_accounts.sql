-- Operators: the accounts that run Guildgate (the administrator created on first start), not
-- members of the association. An operator is never sent to Higher Logic, whatever a group's
-- conditions select.
ALTER TABLE members ADD COLUMN operator BIGINT NOT NULL DEFAULT 0 CHECK (operator IN (0, 1));

-- The first-start administrator of earlier versions.
UPDATE members SET operator = 1
 WHERE member_key = 'admin' AND first_name = 'Guildgate' AND last_name = 'Administrator'
   AND id IN (SELECT member_id FROM accounts WHERE role = 'admin');
