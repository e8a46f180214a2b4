use serde_json::json;

use super::*;

#[test]
fn rest_errors_are_plain_and_coded() {
    let e = rest_error("writing", 401, &json!({"message": "JWSError"}));
    assert_eq!(e.code(), "target_auth");
    let e = rest_error(
        "writing",
        401,
        &json!({"code": "42501", "message": "new row violates row-level security"}),
    );
    assert_eq!(e.code(), "target_permission");
    let e = rest_error("writing", 403, &json!({"code": "42501"}));
    assert!(e.to_string().contains("service-role"));
    assert_eq!(
        rest_error("x", 404, &json!({"code": "PGRST205"})).code(),
        "missing_table"
    );
    assert_eq!(rest_error("x", 503, &Value::Null).code(), "target_unavailable");
    // A column the request names is gone: the restore starts over from
    // fresh columns on this code.
    assert_eq!(
        rest_error(
            "x",
            400,
            &json!({"code": "PGRST204", "message": "Could not find the 'feedback' column"})
        )
        .code(),
        "missing_columns"
    );
    assert_eq!(
        rest_error("x", 400, &json!({"code": "42703"})).code(),
        "missing_columns"
    );
    assert_eq!(
        rest_error(
            "x",
            500,
            &json!({"code": "57014", "message": "canceling statement due to statement timeout"})
        )
        .code(),
        "target_busy"
    );
}

#[test]
fn http_is_only_for_loopback() {
    for ok in [
        "https://abc.supabase.co",
        "http://127.0.0.1:54321",
        "http://127.1.2.3",
        "http://localhost:8000",
        "http://[::1]:8000",
    ] {
        assert!(check_project_url(ok).is_ok(), "{ok}");
    }
    for bad in [
        "http://example.com",
        "http://10.0.0.1:8000",
        "http://localhost.example.com",
        "ftp://x",
        "abc.supabase.co",
    ] {
        assert_eq!(check_project_url(bad).unwrap_err().code(), "config", "{bad}");
    }
    let e = RestTarget::new("http://example.com", Secret::new("k"), Tables::default(), None)
        .err()
        .unwrap();
    assert!(e.to_string().contains("unencrypted"), "{e}");
    assert!(RestTarget::new("http://127.0.0.1:9/", Secret::new("k"), Tables::default(), None).is_ok());
}
