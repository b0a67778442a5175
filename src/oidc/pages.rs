//! The provider's HTML pages (askama templates in `templates/`), rendered with
//! [`crate::web::pages`].

use askama::Template;

#[derive(Template)]
#[template(path = "login.html")]
pub struct LoginPage<'a> {
    pub action: &'a str,
    pub client_name: &'a str,
    pub error: Option<&'a str>,
    pub email: &'a str,
    pub csrf_token: String,
    /// The authorization request, carried through the form.
    pub params: Vec<(String, String)>,
    /// "Forgot your password?", carrying the same request.
    pub forgot_password_url: String,
}

#[derive(Template)]
#[template(path = "logout.html")]
pub struct LogoutPage<'a> {
    pub action: &'a str,
    pub csrf_token: String,
    pub params: Vec<(String, String)>,
}

#[derive(Template)]
#[template(path = "logged_out.html")]
pub struct LoggedOutPage;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_escape_what_they_show() {
        let page = LoginPage {
            action: "/login",
            client_name: "<script>x</script>",
            error: Some("bad \"quote\""),
            email: "a@b.c\"><script>",
            csrf_token: "t".into(),
            params: vec![("state".into(), "\"><img src=x>".into())],
            forgot_password_url: "/forgot-password?state=%22%3E".into(),
        };
        let html = page.render().unwrap();
        assert!(!html.contains("<script>x"), "{html}");
        assert!(!html.contains("\"><img"), "{html}");
        assert!(html.contains("name=\"csrf_token\" value=\"t\""));
    }
}
