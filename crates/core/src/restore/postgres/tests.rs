use super::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A "server" that logs anyone in and then never answers a query.
async fn silent_after_login() -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let len = socket.read_u32().await.unwrap() as usize;
                let mut startup = vec![0; len - 4];
                socket.read_exact(&mut startup).await.unwrap();
                // AuthenticationOk, then ReadyForQuery (idle).
                socket.write_all(b"R\0\0\0\x08\0\0\0\0Z\0\0\0\x05I").await.unwrap();
                let mut sink = [0u8; 1024];
                while socket.read(&mut sink).await.is_ok_and(|n| n > 0) {}
            });
        }
    });
    port
}

#[tokio::test]
async fn a_cancel_stops_the_wait_for_a_silent_server() {
    let port = silent_after_login().await;
    let long = Duration::from_secs(60);
    let tables = Tables::default();
    let target = PostgresTarget::new(
        Secret::new(format!("postgres://u:p@127.0.0.1:{port}/db?sslmode=disable")),
        tables.clone(),
    )
    .with_timeouts(Timeouts {
        connect: Duration::from_secs(10),
        request: long,
        statement: long,
        lock: long,
    });
    let session = target.connect().await.unwrap();
    let doc = crate::model::ConversationDocument::from_value(
        "k",
        json!({"conversation": {"id": "c1"}, "messages": [{"id": "m1"}]}),
    )
    .unwrap();
    let cols: HashSet<String> = ["id", "conversation_id"].map(String::from).into();
    let plan = Plan::new(&doc, &cols, &cols);
    let cancel = CancellationToken::new();
    let trigger = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        trigger.cancel();
    });
    // Without the cancel the wait would last statement + lock + connect
    // (130 s): a bound of 20 s tells the two apart (the cancel waits 5 s
    // for the server to take it, then the connect timeout, 10 s).
    let (out, reusable) = tokio::time::timeout(
        Duration::from_secs(20),
        session.restore(&plan, &RestoreOptions::default(), &cancel),
    )
    .await
    .expect("the cancel ended the wait");
    assert_eq!(out.unwrap_err().code(), "cancelled");
    assert!(!reusable, "a connection left mid-statement is not kept");
}

#[test]
fn identifiers_are_quoted() {
    assert_eq!(quote_ident("public.messages"), "\"public\".\"messages\"");
    assert_eq!(schema_and_table("messages"), ("public", "messages"));
}
