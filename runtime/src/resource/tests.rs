use super::*;

#[test]
fn a_variable_matches_one_segment_and_is_percent_decoded() {
    let template = UriTemplate::parse("notes://{id}").unwrap();
    assert_eq!(
        template.matches("notes://42"),
        Some(vec![("id", "42".to_owned())])
    );
    assert_eq!(
        template.matches("notes://a%20b"),
        Some(vec![("id", "a b".to_owned())])
    );
    for miss in [
        "notes://",
        "notes://42/x",
        "notes://42?x=1",
        "note://42",
        "xnotes://42",
    ] {
        assert_eq!(template.matches(miss), None, "{miss}");
    }
    // A fragment is the client's: the resource is the same.
    assert_eq!(
        template.matches("notes://42#top"),
        Some(vec![("id", "42".to_owned())])
    );
    // Not UTF-8 once decoded: no match, rather than a lossy value.
    assert_eq!(template.matches("notes://%FF"), None);
}

#[test]
fn variables_between_literals_split_at_the_next_literal() {
    let template = UriTemplate::parse("test://template/{id}/data").unwrap();
    assert_eq!(
        template.matches("test://template/123/data"),
        Some(vec![("id", "123".to_owned())])
    );
    assert_eq!(template.matches("test://template/123/data/more"), None);
    assert_eq!(template.matches("test://template//data"), None);
    let fixed = UriTemplate::parse("docs://readme").unwrap();
    assert!(fixed.is_fixed());
    assert_eq!(fixed.matches("docs://readme"), Some(vec![]));
    assert_eq!(fixed.matches("docs://readme2"), None);
}

#[test]
fn an_overlong_uri_matches_nothing() {
    let template = UriTemplate::parse("notes://{id}").unwrap();
    let long = format!("notes://{}", "1".repeat(MAX_URI_BYTES));
    assert_eq!(template.matches(&long), None);
    let fits = format!("notes://{}", "1".repeat(MAX_URI_BYTES - "notes://".len()));
    assert!(template.matches(&fits).is_some());
}

#[test]
fn templates_that_cannot_be_matched_unambiguously_are_refused() {
    for (bad, why) in [
        ("", "empty"),
        ("notes://{id", "never closed"),
        ("notes://id}", "closes no variable"),
        ("notes://{}", "no name"),
        ("files://{+path}", "operators"),
        ("search://{?q}", "operators"),
        ("a://{x}{y}", "side by side"),
        ("a://{x}/{x}", "named twice"),
        ("{scheme}://x", "scheme must be literal"),
    ] {
        let error = UriTemplate::parse(bad).unwrap_err().to_string();
        assert!(error.contains(why), "{bad}: {error}");
    }
}

#[test]
fn uris_are_matched_in_normal_form() {
    use super::template::normal_form;
    for (uri, normal) in [
        ("notes://42", "notes://42"),
        ("NOTES://42", "notes://42"),
        ("x-Y.z+1://A", "x-y.z+1://A"),
        ("notes://%34%32", "notes://42"),
        ("notes://%7e%2D%2e%5F", "notes://~-._"),
        ("notes://a%2fb%3f", "notes://a%2Fb%3F"),
        ("notes://100%", "notes://100%"),
        ("notes://%zz%4", "notes://%zz%4"),
        ("notes://%C3%A9", "notes://%C3%A9"),
        // No scheme: nothing is lowered.
        ("Not a scheme://x", "Not a scheme://x"),
    ] {
        assert_eq!(normal_form(uri), normal, "{uri}");
    }
    // A template's literal text is kept in normal form too.
    let template = UriTemplate::parse("Docs://Read%6de").unwrap();
    assert_eq!(template.as_str(), "Docs://Read%6de");
    assert!(template.matches("docs://Reame").is_none());
    assert!(template.matches("docs://Readme").is_some());
    assert!(template.matches("DOCS://Rea%64me").is_some());
}

#[test]
fn a_value_is_one_path_segment_once_decoded() {
    let template = UriTemplate::parse("files://{name}.txt").unwrap();
    assert_eq!(
        template.matches("files://a%20b.txt"),
        Some(vec![("name", "a b".to_owned())])
    );
    for outside in [
        "files://a%2Fb.txt",
        "files://%2E%2E.txt",
        "files://...txt",
        "files://a%3Fb.txt",
        "files://a%23b.txt",
        "files://a%7Fb.txt",
        "files://a%09b.txt",
    ] {
        assert_eq!(template.matches(outside), None, "{outside}");
    }
}

#[test]
fn a_fixed_uri_is_matched_by_every_spelling_of_it() {
    let fixed = UriTemplate::parse("users://admin/profile").unwrap();
    for spelling in [
        "users://admin/profile",
        "USERS://ADMIN/profile",
        "users://%61dmin/profile",
        "users://admin/./profile",
        "users://admin/x/../profile",
        "users://admin/profile#top",
        "users://adm%69n/pro%66ile",
    ] {
        assert!(fixed.matches(spelling).is_some(), "{spelling}");
    }
    for other in [
        "users://admin/profile/",
        "users://admin/Profile",
        "users://admins/profile",
        "users://admin/profile?x",
    ] {
        assert!(fixed.matches(other).is_none(), "{other}");
    }
    let accented = UriTemplate::parse("notes://résumé").unwrap();
    assert!(accented.matches("notes://r%C3%A9sum%C3%A9").is_some());
    let bang = UriTemplate::parse("notes://admin!").unwrap();
    assert!(bang.matches("notes://admin%21").is_some());
    // A template ignores the fragment too, and keeps the case of what it captures.
    let template = UriTemplate::parse("users://{user}/profile").unwrap();
    assert_eq!(
        template.matches("users://Ada/profile#top"),
        Some(vec![("user", "Ada".to_owned())])
    );
}
