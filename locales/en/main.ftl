# The member-facing pages and e-mails in English. Every other catalogue
# (locales/<language>/main.ftl) has the same message ids; a new language is a
# new folder with a copy of this file, translated.

language-name = English

## Every page
language-switch = Language
support-contact = Need help? Write to { $email }.
privacy-policy = Privacy policy
logo-alt = { $name } logo

## Sign in
sign-in-title = Sign in
sign-in-to-continue = to continue to { $client }
field-email = E-mail
field-password = Password
sign-in-button = Sign in
forgot-password-link = Forgot your password?
error-enter-credentials = Enter your e-mail address and password.
error-wrong-credentials = The e-mail address or the password is not right.
account-not-active-title = Account not active
account-not-active-sign-in = Your account is not active, so you cannot sign in. Please contact the association if you think this is a mistake.
too-many-sign-ins-title = Too many sign-ins right now
too-many-sign-ins = Too many sign-ins right now, try again in a few seconds.
throttled-sign-in = There were too many failed sign-in attempts; try again in { $secs } seconds.

## Forgot password
forgot-title = Forgot your password?
forgot-sent = If an account exists for this address, we have sent a link to choose a new password. The link works once and expires in a few hours.
forgot-intro = Enter the e-mail address you sign in with and we will send you a link to choose a new password.
forgot-button = Send the link
forgot-back = Back to sign in
forgot-enter-email = Enter the e-mail address you sign in with.
forgot-throttled = Too many requests for a new password; try again in { $secs } seconds.

## Set password (invitation and reset links)
set-password-invitation-title = Choose your password
set-password-reset-title = Choose a new password
set-password-for = for { $email }
field-new-password = New password (at least { $min } characters)
field-new-password-again = New password again
set-password-button = Set password
passwords-differ = The two passwords differ.
password-too-short = The password must have at least { $min } characters.
password-too-long = The password is too long: at most 1024 bytes.
password-set-title = Password set
password-set = Your password is set. You can now sign in with your e-mail address and your new password.
link-not-valid-title = Link not valid
link-not-valid = This link has expired or has already been used. Ask the association for a new one.
account-not-active-set-password = Your account is not active, so no password can be set for it. Please contact the association.

## One-time password step
new-password-title = Choose your own password
new-password-intro = You signed in with a password you were given; choose your own to continue.
new-password-intro-client = You signed in with a password you were given; choose your own to continue to { $client }.
new-password-button = Set password and continue
new-password-same = Choose a password that differs from the one you were given.

## Account page
account-title = Your account
account-name = Name
account-email = E-mail
account-owned = Your association keeps your name and e-mail address; ask it to change them.
account-change-password = Change your password
field-current-password = Current password
account-change-button = Change password
account-where = Where you are signed in
account-browser = A browser, last used { $when }
account-this-browser = (this one)
account-application = { $name }, last signed in { $when }
account-sign-out-everywhere = Sign out everywhere else
account-sign-out-everywhere-help = Ends every other browser's session and what every application holds for you; this browser stays signed in.
account-sign-out = Sign out
account-password-changed = Your password is changed. You are signed out everywhere else.
account-signed-out-elsewhere = You are signed out everywhere else.
account-wrong-current = The current password is not right.
account-new-differs = The two new passwords differ.
account-new-same = The new password must differ from the current one.

## Sign out
logout-title = Sign out
logout-question = Do you want to sign out of { $name }?
logout-button = Sign out
logged-out-title = Signed out
logged-out = You are signed out. You can close this window.

## Errors
error-title = Something went wrong
error-failed = The request failed; nothing was changed. Try again in a moment.
form-expired-title = Form expired
form-expired = This form has expired or was not sent from this site. Go back, reload the page and try again.
form-nul-title = Form refused
form-nul = A field of this form holds a NUL character, which no text may contain. Go back, remove it and try again.
request-refused-title = Sign-in request refused
sign-out-refused-title = Sign-out request refused
request-repeated = The request names its application or return address more than once.
request-no-client = The request does not name an application (client_id).
request-unknown-client = The request names an unknown application.
request-no-redirect = The request has no return address (redirect_uri).
request-unregistered-redirect = The return address (redirect_uri) is not registered for this application.
request-not-set-up = The application that sent you here is not set up correctly; nothing was sent back to it.

## E-mails
mail-greeting = Hello,
mail-invitation-subject = { $name }: choose your password
mail-invitation-body = An account has been created for you ({ $login }). To choose your password and sign in, open this link:
mail-reset-subject = { $name }: choose a new password
mail-reset-body = A new password was requested for your account ({ $login }). To choose it, open this link:
mail-link-expiry = The link works once and expires in { $hours } hours.
mail-invitation-ignore = If you did not expect this message, you can ignore it.
mail-reset-ignore = If you did not ask for this, ignore this message: your password stays as it is.
mail-signature = { $name }
mail-support = Questions? Write to { $email }.

# Dates and times on the pages (the account page's "last used"), in UTC.
date-time = { $month } { $day }, { $year }, { $time } UTC
month-1 = January
month-2 = February
month-3 = March
month-4 = April
month-5 = May
month-6 = June
month-7 = July
month-8 = August
month-9 = September
month-10 = October
month-11 = November
month-12 = December
# Two-factor sign-in
two-factor-title = Enter your sign-in code
two-factor-intro = Your account is protected by two-factor sign-in. Open your authenticator app and enter the six-digit code it shows.
field-two-factor-code = Code (or a recovery code)
two-factor-button = Continue
two-factor-recovery-help = Lost your phone? Enter one of your recovery codes instead; each works once.
two-factor-wrong-code = This code is not right. Check your authenticator app and try again.
two-factor-code-used = This code was already used. Wait for the next code in your authenticator app.
two-factor-expired-title = Sign in again
two-factor-expired = This sign-in step expired or was already finished. Start signing in again.
two-factor-enrol-title = Set up two-factor sign-in
two-factor-required = Administrators sign in with a second factor: a code from an authenticator app on your phone, as well as the password.
two-factor-optional = Protect your account with a second factor: a code from an authenticator app on your phone, asked for after the password.
two-factor-enrol-scan = Scan this QR code with your authenticator app (such as Google Authenticator, Microsoft Authenticator, FreeOTP or 1Password).
two-factor-qr-label = QR code to add this account to an authenticator app
two-factor-enrol-manual = Or type this key in the app (a time-based code, six digits, every 30 seconds):
field-two-factor-first-code = The six-digit code the app shows now
two-factor-enrol-button = Confirm and turn on
two-factor-cancel = Not now
recovery-codes-title = Your recovery codes
recovery-codes-intro = If you lose your phone, each of these codes signs you in once instead of a code from the app. Print them or keep them in a password manager.
recovery-codes-once = They are shown only now: we keep only a fingerprint of each.
recovery-codes-continue = I have kept them, continue
account-two-factor = Two-factor sign-in
account-two-factor-on = Two-factor sign-in is on. Recovery codes left: { $left }.
account-two-factor-off = Two-factor sign-in is off: your password alone signs you in.
account-two-factor-enable = Turn on two-factor sign-in
account-two-factor-disable = Turn off two-factor sign-in
account-two-factor-disable-help = Turning it off, like changing your password, signs you out everywhere else.
account-two-factor-renew = Get new recovery codes
account-two-factor-renew-help = New codes replace the old ones, used or not.
field-two-factor-current-code = A code from your authenticator app
account-two-factor-disabled = Two-factor sign-in is off.
account-two-factor-wrong = The password or the code is not right.
account-two-factor-required = Administrators must keep two-factor sign-in on.
