//! The Supabase stand-in behaves like Supabase where the restore feature
//! depends on it: the gateway's `apikey` check, RLS for anon, the service
//! role, PostgREST's insert / upsert / error protocol, the restore RPC, and
//! the OpenAPI description of the tables.

use archive_desk_harness::servers::token;
use archive_desk_harness::supabase::{self, SupabaseStack};
use reqwest::{Client, Method, RequestBuilder, StatusCode};
use serde_json::{json, Value};

fn client() -> Client {
    Client::builder().no_proxy().build().expect("http client")
}

/// A request to `{rest_url}/{path}` with the legacy service key, as
/// supabase-js sends it.
fn service(stack: &SupabaseStack, method: Method, path: &str) -> RequestBuilder {
    client()
        .request(method, format!("{}/{path}", stack.rest_url))
        .header("apikey", &stack.service_key)
        .bearer_auth(&stack.service_key)
}

fn anon(stack: &SupabaseStack, method: Method, path: &str) -> RequestBuilder {
    client()
        .request(method, format!("{}/{path}", stack.rest_url))
        .header("apikey", &stack.anon_key)
        .bearer_auth(&stack.anon_key)
}

async fn send(request: RequestBuilder) -> (StatusCode, Value) {
    let response = request.send().await.expect("request is answered");
    let status = response.status();
    let text = response.text().await.expect("body");
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    (status, body)
}

fn conversation(id: &str) -> Value {
    json!({
        "id": id,
        "user_id": "user@example.com",
        "title": "Shipping question",
        "created_at": "2025-01-15T10:30:00Z",
        "updated_at": "2025-01-16T14:20:00Z",
        "provider": "openai",
        "model": "gpt-4o",
    })
}

fn messages(conversation_id: &str, n: usize) -> Vec<Value> {
    (0..n)
        .map(|i| {
            json!({
                "id": format!("{conversation_id}-m{i}"),
                "conversation_id": conversation_id,
                "role": if i % 2 == 0 { "user" } else { "assistant" },
                "content": format!("message {i}: \"quotes\", <tags> and ünïcödé"),
                "feedback": if i == 1 { Value::from("positive") } else { Value::Null },
                "created_at": "2025-01-15T10:30:15Z",
                "input_tokens": 10 + i,
                "output_tokens": 20 + i,
                "cost": 0.0015,
            })
        })
        .collect()
}

#[tokio::test]
async fn requests_without_a_known_apikey_are_refused_by_the_gateway() {
    let stack = supabase::shared();
    let url = format!("{}/conversations", stack.rest_url);

    let (status, body) = send(client().get(&url)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["message"], "No API key found in request");

    let (status, body) = send(client().get(&url).header("apikey", "not-a-key")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["message"], "Invalid API key");

    // A JWT signed with another secret is not one of the project's keys.
    let forged = supabase::sign_hs256(
        "some-other-secret-that-is-long-enough-for-hs256",
        &json!({"role": "service_role"}),
    );
    let (status, body) = send(client().get(&url).header("apikey", &forged)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["message"], "Invalid API key");

    // A known apikey with a bad bearer token reaches PostgREST, which
    // refuses the JWT.
    let (status, body) = send(
        client()
            .get(&url)
            .header("apikey", &stack.anon_key)
            .bearer_auth(&forged),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["code"], "PGRST301", "{body}");

    // Only /rest/v1/ is served.
    let (status, _) = send(
        client()
            .get(format!("{}/auth/v1/user", stack.url))
            .header("apikey", &stack.service_key),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn anon_is_kept_out_by_row_level_security() {
    let stack = supabase::shared();
    let id = format!("anon-{}", token());

    let (status, body) = send(anon(stack, Method::POST, "conversations").json(&conversation(&id))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["code"], "42501", "{body}");
    assert_eq!(
        stack.psql(&format!("select count(*) from conversations where id = '{id}'")),
        "0"
    );

    // Rows written by the service role are invisible to anon.
    let (status, _) = send(service(stack, Method::POST, "conversations").json(&conversation(&id))).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, body) = send(anon(stack, Method::GET, &format!("conversations?id=eq.{id}"))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!([]));

    // The publishable key is the anon role too.
    let (status, body) = send(
        client()
            .post(format!("{}/conversations", stack.rest_url))
            .header("apikey", &stack.publishable_key)
            .json(&conversation(&format!("{id}-2"))),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");

    // A legacy service key in `apikey` alone is not enough: without
    // `Authorization: Bearer` PostgREST runs the request as anon (as on
    // Supabase; supabase-js sends both).
    let (status, body) = send(
        client()
            .post(format!("{}/conversations", stack.rest_url))
            .header("apikey", &stack.service_key)
            .json(&conversation(&format!("{id}-3"))),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");

    // And anon may not call the restore function.
    let (status, body) = send(
        anon(stack, Method::POST, "rpc/restore_archived_conversation")
            .json(&json!({"payload": {"conversation": conversation(&id), "messages": []}})),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    // Refused at the function (its execute grant), not only by row-level
    // security once it ran.
    assert_refused_at(&body, "restore_archived_conversation");
    let (status, body) = send(
        anon(
            stack,
            Method::POST,
            "rpc/restore_archived_conversation_v3?columns=archive,options",
        )
        .json(&json!({"archive": {"conversation": conversation(&id), "messages": []}, "options": {}})),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    // Refused at `_v3` itself, not at the form it calls.
    assert_refused_at(&body, "restore_archived_conversation_v3");
    // And the check both forms share.
    let (status, body) = send(
        anon(stack, Method::POST, "rpc/archived_conversation_row")
            .json(&json!({"payload": {"conversation": conversation(&id), "messages": []}})),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_refused_at(&body, "archived_conversation_row");
}

#[tokio::test]
async fn the_service_key_writes_and_reads_back() {
    let stack = supabase::shared();
    let id = format!("svc-{}", token());

    let (status, body) = send(
        service(stack, Method::POST, "conversations")
            .header("Prefer", "return=representation")
            .json(&conversation(&id)),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body[0]["id"], id.as_str());

    let (status, body) = send(service(stack, Method::GET, &format!("conversations?id=eq.{id}"))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body[0]["title"], "Shipping question");
    assert_eq!(body[0]["model"], "gpt-4o");
    assert_eq!(body[0]["created_at"], "2025-01-15T10:30:00+00:00");

    // Duplicate primary key: 409 with PostgreSQL's 23505.
    let (status, body) = send(service(stack, Method::POST, "conversations").json(&conversation(&id))).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["code"], "23505");

    // A column the table lacks: 400 PGRST204.
    let mut extra = conversation(&format!("{id}-x"));
    extra["no_such_column"] = json!(1);
    let (status, body) = send(service(stack, Method::POST, "conversations").json(&extra)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["code"], "PGRST204");

    // ... unless ?columns= restricts the keys used.
    let (status, body) = send(
        service(
            stack,
            Method::POST,
            "conversations?columns=id,user_id,title,created_at,updated_at",
        )
        .json(&extra),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    // The new secret key goes in `apikey` alone.
    let other = format!("{id}-secret");
    let (status, body) = send(
        client()
            .post(format!("{}/conversations", stack.rest_url))
            .header("apikey", &stack.secret_key)
            .json(&conversation(&other)),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(
        stack.psql(&format!("select title from conversations where id = '{other}'")),
        "Shipping question"
    );
}

#[tokio::test]
async fn messages_are_inserted_in_bulk_and_upserted() {
    let stack = supabase::shared();
    let id = format!("bulk-{}", token());
    let (status, _) = send(service(stack, Method::POST, "conversations").json(&conversation(&id))).await;
    assert_eq!(status, StatusCode::CREATED);

    let batch = messages(&id, 500);
    let (status, body) = send(service(stack, Method::POST, "messages").json(&batch)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(
        stack.psql(&format!(
            "select count(*), sum(input_tokens) from messages where conversation_id = '{id}'"
        )),
        format!("500|{}", (10..510).sum::<usize>())
    );

    // Read back through the API: Supabase's max-rows cap is 1000, so 500 fit.
    let (status, body) = send(service(
        stack,
        Method::GET,
        &format!("messages?conversation_id=eq.{id}&order=id&select=id,content,feedback"),
    ))
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body.as_array().map(Vec::len), Some(500));
    assert_eq!(body[0]["content"], batch[0]["content"]);

    // Same again: the whole request fails (one transaction) ...
    let (status, body) = send(service(stack, Method::POST, "messages").json(&batch)).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    // ... unless duplicates are ignored.
    let mut more = batch.clone();
    more.extend(messages(&format!("{id}-more"), 3).into_iter().map(|mut m| {
        m["conversation_id"] = json!(id);
        m
    }));
    let (status, body) = send(
        service(stack, Method::POST, "messages?on_conflict=id")
            .header("Prefer", "resolution=ignore-duplicates,return=representation")
            .json(&more),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body.as_array().map(Vec::len), Some(3), "only new rows come back");

    // A bulk insert whose objects have different keys: 400 PGRST102.
    let ragged = json!([
        {"id": format!("{id}-r1"), "conversation_id": id, "role": "user"},
        {"id": format!("{id}-r2"), "conversation_id": id},
    ]);
    let (status, body) = send(service(stack, Method::POST, "messages").json(&ragged)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["code"], "PGRST102");

    assert_eq!(
        stack.psql(&format!("select count(*) from messages where conversation_id = '{id}'")),
        "503"
    );
}

#[tokio::test]
async fn the_restore_function_is_atomic_and_idempotent() {
    let stack = supabase::shared();
    let id = format!("rpc-{}", token());
    let mut archived_conversation = conversation(&id);
    archived_conversation["unknown_future_field"] = json!({"kept": "in the archive only"});
    let mut msgs = messages(&id, 40);
    msgs[3].as_object_mut().unwrap().remove("conversation_id");
    msgs[4]["sentiment"] = json!("unknown key");
    let payload = json!({
        "conversation": archived_conversation,
        "messages": msgs,
        "archive_metadata": {"archived_at": "2025-01-20T09:00:00Z", "message_count": 40},
    });
    let rpc = "rpc/restore_archived_conversation";

    let (status, body) = send(service(stack, Method::POST, rpc).json(&json!({ "payload": payload }))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body,
        json!({"conversation_inserted": 1, "messages_inserted": 40, "messages_present": 40})
    );

    let (status, body) = send(service(stack, Method::POST, rpc).json(&json!({ "payload": payload }))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body,
        json!({"conversation_inserted": 0, "messages_inserted": 0, "messages_present": 40})
    );
    assert_eq!(
        stack.psql(&format!(
            "select count(*) from messages where conversation_id = '{id}' and id = '{id}-m3'"
        )),
        "1"
    );

    // A message of another conversation aborts the whole call: nothing of
    // it is written.
    let bad_id = format!("rpc-bad-{}", token());
    let mut bad_msgs = messages(&bad_id, 5);
    bad_msgs[4]["conversation_id"] = json!("someone-else");
    let (status, body) = send(
        service(stack, Method::POST, rpc)
            .json(&json!({"payload": {"conversation": conversation(&bad_id), "messages": bad_msgs}})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(
        stack.psql(&format!(
            "select (select count(*) from conversations where id = '{bad_id}') \
             + (select count(*) from messages where conversation_id = '{bad_id}')"
        )),
        "0"
    );

    // The same function over a direct connection.
    let direct_id = format!("rpc-direct-{}", token());
    let direct = json!({"conversation": conversation(&direct_id), "messages": messages(&direct_id, 2)});
    let out = stack.psql(&format!(
        "select public.restore_archived_conversation($json${direct}$json$::jsonb)"
    ));
    let out: Value = serde_json::from_str(&out).expect("jsonb result");
    assert_eq!(
        out,
        json!({"conversation_inserted": 1, "messages_inserted": 2, "messages_present": 2})
    );
}

#[tokio::test]
async fn the_openapi_description_lists_the_tables_columns() {
    let stack = supabase::shared();
    let (status, body) = send(service(stack, Method::GET, "")).await;
    assert_eq!(status, StatusCode::OK);
    let columns = |table: &str| -> Vec<String> {
        let mut cols: Vec<String> = body["definitions"][table]["properties"]
            .as_object()
            .unwrap_or_else(|| panic!("no definition of {table} in {body}"))
            .keys()
            .cloned()
            .collect();
        cols.sort();
        cols
    };
    assert_eq!(
        columns("conversations"),
        [
            "created_at",
            "id",
            "model",
            "provider",
            "timestamp",
            "title",
            "updated_at",
            "user_id"
        ]
    );
    assert_eq!(
        columns("messages"),
        [
            "content",
            "conversation_id",
            "cost",
            "created_at",
            "feedback",
            "id",
            "input_tokens",
            "output_tokens",
            "role"
        ]
    );
    assert!(
        body["paths"]
            .as_object()
            .is_some_and(|p| p.contains_key("/rpc/restore_archived_conversation")),
        "the restore function is described"
    );
}

#[tokio::test]
async fn a_project_of_its_own_can_change_its_schema_and_be_reset() {
    let stack = SupabaseStack::start_with("alter table public.messages drop column feedback");
    assert_ne!(stack.url, supabase::shared().url);
    let (status, body) = send(service(&stack, Method::GET, "")).await;
    assert_eq!(status, StatusCode::OK);
    let props = body["definitions"]["messages"]["properties"]
        .as_object()
        .expect("messages described");
    assert!(!props.contains_key("feedback"));
    assert!(props.contains_key("content"));

    // Sending the missing column fails; the restore function skips it.
    let id = format!("own-{}", token());
    let (status, _) = send(service(&stack, Method::POST, "conversations").json(&conversation(&id))).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, body) = send(service(&stack, Method::POST, "messages").json(&messages(&id, 2))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["code"], "PGRST204");
    let (status, body) = send(
        service(&stack, Method::POST, "rpc/restore_archived_conversation")
            .json(&json!({"payload": {"conversation": conversation(&id), "messages": messages(&id, 2)}})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}\n{}", stack.logs());
    assert_eq!(body["messages_inserted"], 2);

    stack.reset();
    assert_eq!(
        stack.psql("select (select count(*) from conversations) + (select count(*) from messages)"),
        "0"
    );

    // The direct connection string works (password auth over TCP).
    let out = std::process::Command::new("psql")
        .args(["-X", "-A", "-t", "-c", "select current_user, current_database()"])
        .arg(&stack.postgres_url)
        .output()
        .expect("psql runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("postgres|{}", stack.database)
    );

    // Dropping the project stops its servers and drops its database.
    let (url, database) = (stack.url.clone(), stack.database.clone());
    let headers = stack.service_headers();
    drop(stack);
    let mut request = client().get(format!("{url}/rest/v1/"));
    for (name, value) in &headers {
        request = request.header(*name, value);
    }
    // (Not `is_err` alone: another test's server may get the freed port,
    // but it cannot know this project's key.)
    let answer = request.send().await;
    assert!(
        answer.as_ref().map_or(true, |r| r.status() != StatusCode::OK),
        "the gateway still serves after drop: {answer:?}"
    );
    assert_eq!(
        supabase::shared().psql(&format!(
            "select count(*) from pg_database where datname = '{database}'"
        )),
        "0"
    );
}

#[test]
#[should_panic(expected = "reset() on the shared Supabase stack")]
fn the_shared_project_cannot_be_reset() {
    supabase::shared().reset();
}

/// PostgREST's answer to a call of `function`, which the role may not execute.
fn assert_refused_at(body: &Value, function: &str) {
    let message = body["message"].as_str().unwrap_or_default();
    assert_eq!(message, format!("permission denied for function {function}"), "{body}");
}
