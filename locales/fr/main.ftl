# Les pages et les e-mails destinés aux membres, en français.

language-name = Français

## Every page
language-switch = Langue
support-contact = Besoin d'aide ? Écrivez à { $email }.
privacy-policy = Politique de confidentialité
logo-alt = Logo de { $name }

## Sign in
sign-in-title = Connexion
sign-in-to-continue = pour continuer vers { $client }
field-email = Adresse e-mail
field-password = Mot de passe
sign-in-button = Se connecter
forgot-password-link = Mot de passe oublié ?
error-enter-credentials = Saisissez votre adresse e-mail et votre mot de passe.
error-wrong-credentials = L'adresse e-mail ou le mot de passe est incorrect.
account-not-active-title = Compte inactif
account-not-active-sign-in = Votre compte n'est pas actif : vous ne pouvez pas vous connecter. Contactez l'association si vous pensez qu'il s'agit d'une erreur.
too-many-sign-ins-title = Trop de connexions en ce moment
too-many-sign-ins = Trop de connexions en ce moment, réessayez dans quelques secondes.
throttled-sign-in = Il y a eu trop d'échecs de connexion ; réessayez dans { $secs } secondes.

## Forgot password
forgot-title = Mot de passe oublié ?
forgot-sent = Si un compte existe pour cette adresse, nous avons envoyé un lien pour choisir un nouveau mot de passe. Le lien ne fonctionne qu'une fois et expire au bout de quelques heures.
forgot-intro = Saisissez l'adresse e-mail avec laquelle vous vous connectez : nous vous enverrons un lien pour choisir un nouveau mot de passe.
forgot-button = Envoyer le lien
forgot-back = Retour à la connexion
forgot-enter-email = Saisissez l'adresse e-mail avec laquelle vous vous connectez.
forgot-throttled = Trop de demandes de nouveau mot de passe ; réessayez dans { $secs } secondes.

## Set password (invitation and reset links)
set-password-invitation-title = Choisissez votre mot de passe
set-password-reset-title = Choisissez un nouveau mot de passe
set-password-for = pour { $email }
field-new-password = Nouveau mot de passe (au moins { $min } caractères)
field-new-password-again = Confirmez le nouveau mot de passe
set-password-button = Enregistrer le mot de passe
passwords-differ = Les deux mots de passe ne sont pas identiques.
password-too-short = Le mot de passe doit comporter au moins { $min } caractères.
password-too-long = Le mot de passe est trop long : 1024 octets au plus.
password-set-title = Mot de passe enregistré
password-set = Votre mot de passe est enregistré. Vous pouvez maintenant vous connecter avec votre adresse e-mail et votre nouveau mot de passe.
link-not-valid-title = Lien non valide
link-not-valid = Ce lien a expiré ou a déjà été utilisé. Demandez-en un nouveau à l'association.
account-not-active-set-password = Votre compte n'est pas actif : aucun mot de passe ne peut être défini. Veuillez contacter l'association.

## One-time password step
new-password-title = Choisissez votre propre mot de passe
new-password-intro = Vous vous êtes connecté avec un mot de passe qui vous a été donné ; choisissez le vôtre pour continuer.
new-password-intro-client = Vous vous êtes connecté avec un mot de passe qui vous a été donné ; choisissez le vôtre pour continuer vers { $client }.
new-password-button = Enregistrer et continuer
new-password-same = Choisissez un mot de passe différent de celui qui vous a été donné.

## Account page
account-title = Votre compte
account-name = Nom
account-email = Adresse e-mail
account-owned = Votre association gère votre nom et votre adresse e-mail ; demandez-lui de les modifier.
account-change-password = Changer votre mot de passe
field-current-password = Mot de passe actuel
account-change-button = Changer le mot de passe
account-where = Où vous êtes connecté
account-browser = Un navigateur, dernière utilisation { $when }
account-this-browser = (celui-ci)
account-application = { $name }, dernière connexion { $when }
account-sign-out-everywhere = Se déconnecter partout ailleurs
account-sign-out-everywhere-help = Met fin aux sessions de tous les autres navigateurs et à ce que chaque application détient pour vous ; ce navigateur reste connecté.
account-sign-out = Se déconnecter
account-password-changed = Votre mot de passe est changé. Vous êtes déconnecté partout ailleurs.
account-signed-out-elsewhere = Vous êtes déconnecté partout ailleurs.
account-wrong-current = Le mot de passe actuel est incorrect.
account-new-differs = Les deux nouveaux mots de passe ne sont pas identiques.
account-new-same = Le nouveau mot de passe doit être différent de l'actuel.

## Sign out
logout-title = Déconnexion
logout-question = Voulez-vous vous déconnecter de { $name } ?
logout-button = Se déconnecter
logged-out-title = Déconnecté
logged-out = Vous êtes déconnecté. Vous pouvez fermer cette fenêtre.

## Errors
error-title = Une erreur est survenue
error-failed = La demande a échoué ; rien n'a été modifié. Réessayez dans un instant.
form-expired-title = Formulaire expiré
form-expired = Ce formulaire a expiré ou n'a pas été envoyé depuis ce site. Revenez en arrière, rechargez la page et réessayez.
form-nul-title = Formulaire refusé
form-nul = Un champ de ce formulaire contient un caractère NUL, qu'aucun texte ne peut contenir. Revenez en arrière, retirez-le et réessayez.
request-refused-title = Demande de connexion refusée
sign-out-refused-title = Demande de déconnexion refusée
request-repeated = La demande désigne son application ou son adresse de retour plus d'une fois.
request-no-client = La demande ne désigne aucune application (client_id).
request-unknown-client = La demande désigne une application inconnue.
request-no-redirect = La demande n'a pas d'adresse de retour (redirect_uri).
request-unregistered-redirect = L'adresse de retour (redirect_uri) n'est pas enregistrée pour cette application.
request-not-set-up = L'application qui vous a envoyé ici n'est pas correctement configurée ; rien ne lui a été renvoyé.

## E-mails
mail-greeting = Bonjour,
mail-invitation-subject = { $name } : choisissez votre mot de passe
mail-invitation-body = Un compte a été créé pour vous ({ $login }). Pour choisir votre mot de passe et vous connecter, ouvrez ce lien :
mail-reset-subject = { $name } : choisissez un nouveau mot de passe
mail-reset-body = Un nouveau mot de passe a été demandé pour votre compte ({ $login }). Pour le choisir, ouvrez ce lien :
mail-link-expiry = Le lien ne fonctionne qu'une fois et expire dans { $hours } heures.
mail-invitation-ignore = Si vous n'attendiez pas ce message, vous pouvez l'ignorer.
mail-reset-ignore = Si vous n'avez rien demandé, ignorez ce message : votre mot de passe reste inchangé.
mail-signature = { $name }
mail-support = Des questions ? Écrivez à { $email }.

# Dates et heures sur les pages (« dernière utilisation » de la page du compte), en UTC.
date-time = le { $day } { $month } { $year } à { $time } UTC
month-1 = janvier
month-2 = février
month-3 = mars
month-4 = avril
month-5 = mai
month-6 = juin
month-7 = juillet
month-8 = août
month-9 = septembre
month-10 = octobre
month-11 = novembre
month-12 = décembre
# Connexion à deux facteurs
two-factor-title = Saisissez votre code de connexion
two-factor-intro = Votre compte est protégé par la connexion à deux facteurs. Ouvrez votre application d’authentification et saisissez le code à six chiffres qu’elle affiche.
field-two-factor-code = Code (ou un code de secours)
two-factor-button = Continuer
two-factor-recovery-help = Téléphone perdu ? Saisissez plutôt l’un de vos codes de secours ; chacun ne sert qu’une fois.
two-factor-wrong-code = Ce code n’est pas le bon. Vérifiez votre application d’authentification et réessayez.
two-factor-code-used = Ce code a déjà servi. Attendez le code suivant dans votre application d’authentification.
two-factor-expired-title = Reconnectez-vous
two-factor-expired = Cette étape de connexion a expiré ou est déjà terminée. Recommencez la connexion.
two-factor-enrol-title = Activer la connexion à deux facteurs
two-factor-required = Les administrateurs se connectent avec un second facteur : un code d’une application d’authentification sur votre téléphone, en plus du mot de passe.
two-factor-optional = Protégez votre compte par un second facteur : un code d’une application d’authentification sur votre téléphone, demandé après le mot de passe.
two-factor-enrol-scan = Scannez ce code QR avec votre application d’authentification (Google Authenticator, Microsoft Authenticator, FreeOTP ou 1Password, par exemple).
two-factor-qr-label = Code QR pour ajouter ce compte à une application d’authentification
two-factor-enrol-manual = Ou saisissez cette clé dans l’application (code basé sur le temps, six chiffres, toutes les 30 secondes) :
field-two-factor-first-code = Le code à six chiffres que l’application affiche maintenant
two-factor-enrol-button = Confirmer et activer
two-factor-cancel = Pas maintenant
recovery-codes-title = Vos codes de secours
recovery-codes-intro = Si vous perdez votre téléphone, chacun de ces codes vous connecte une fois à la place d’un code de l’application. Imprimez-les ou gardez-les dans un gestionnaire de mots de passe.
recovery-codes-once = Ils ne sont affichés que maintenant : nous n’en gardons qu’une empreinte.
recovery-codes-continue = Je les ai gardés, continuer
account-two-factor = Connexion à deux facteurs
account-two-factor-on = La connexion à deux facteurs est activée. Codes de secours restants : { $left }.
account-two-factor-off = La connexion à deux facteurs est désactivée : votre mot de passe seul vous connecte.
account-two-factor-enable = Activer la connexion à deux facteurs
account-two-factor-disable = Désactiver la connexion à deux facteurs
account-two-factor-disable-help = La désactiver, comme changer de mot de passe, vous déconnecte partout ailleurs.
account-two-factor-renew = Obtenir de nouveaux codes de secours
account-two-factor-renew-help = Les nouveaux codes remplacent les anciens, utilisés ou non.
field-two-factor-current-code = Un code de votre application d’authentification
account-two-factor-disabled = La connexion à deux facteurs est désactivée.
account-two-factor-wrong = Le mot de passe ou le code n’est pas le bon.
account-two-factor-required = Les administrateurs doivent garder la connexion à deux facteurs.
