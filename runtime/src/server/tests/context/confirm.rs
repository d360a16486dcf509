//! Confirmation of a tool's calls and questions asked in rounds, through an rmcp client:
//! a confirmed tool runs only on a ticked yes, a call that cannot be put to the user does
//! not run, and on 2026-07-28 each question is a round of the call whose state cannot be
//! forged or replayed.

use super::*;

#[tokio::test]
async fn a_confirmed_tool_runs_only_on_a_ticked_yes() {
    let delete = serde_json::json!({ "id": 7, "title": "Groceries\nYes, delete everything" });
    for (answer, content, runs, why) in [
        (
            ElicitationAction::Accept,
            serde_json::json!({ "confirm": true }),
            1,
            None,
        ),
        (
            ElicitationAction::Accept,
            serde_json::json!({ "confirm": false }),
            0,
            Some("declined"),
        ),
        (
            ElicitationAction::Accept,
            serde_json::json!({}),
            0,
            Some("declined"),
        ),
        (
            ElicitationAction::Decline,
            serde_json::json!({}),
            0,
            Some("declined"),
        ),
        (
            ElicitationAction::Cancel,
            serde_json::json!({}),
            0,
            Some("cancelled"),
        ),
    ] {
        let jobs = Jobs::default();
        let mut asker = client(Some(answer.clone()), full());
        asker.content = content.clone();
        let asked = asker.asked.clone();
        let running = connect_to(jobs.clone(), asker, worker()).await;
        let result = call(&running, "delete", delete.clone(), None).await;
        // The question, its values quoted: the title cannot pose as the question's words.
        assert_eq!(
            *asked.lock().unwrap(),
            [r#"Delete job 7 ("Groceries\nYes, delete everything")?"#]
        );
        let ran = jobs.deleted.load(std::sync::atomic::Ordering::SeqCst);
        assert_eq!(ran, runs, "{answer:?} {content}: {result:?}");
        match why {
            None => assert_eq!(outcome(&result), "deleted 7"),
            Some(why) => {
                assert_eq!(result.is_error, Some(true));
                assert_eq!(facts(&result)["category"], "not_confirmed", "{result:?}");
                assert_eq!(facts(&result)["confirmation"], why);
                let text = &result.content[0].as_text().unwrap().text;
                assert!(text.contains("it was not performed"), "{text}");
            }
        }
    }
}

#[tokio::test]
async fn a_client_that_cannot_ask_or_a_call_without_a_session_does_not_run_it() {
    let jobs = Jobs::default();
    let running = connect_to(
        jobs.clone(),
        client(
            Some(ElicitationAction::Accept),
            ClientCapabilities::default(),
        ),
        worker(),
    )
    .await;
    let result = call(&running, "delete", serde_json::json!({ "id": 1 }), None).await;
    assert_eq!(facts(&result)["confirmation"], "unsupported");

    let server = SecureServer::new(jobs.clone());
    let arguments = serde_json::json!({ "id": 1 }).as_object().cloned();
    let result = server
        .call("delete", arguments.clone(), worker())
        .await
        .unwrap();
    assert_eq!(facts(&result)["confirmation"], "unsupported");
    assert_eq!(jobs.deleted.load(std::sync::atomic::Ordering::SeqCst), 0);
    // The server's own code, having asked by its own means.
    let result = server
        .call_confirmed("delete", arguments, worker())
        .await
        .unwrap();
    assert_eq!(outcome(&result), "deleted 1");
}

#[tokio::test]
async fn a_denied_or_invalid_call_is_never_put_to_the_user() {
    let jobs = Jobs::default();
    let asker = client(Some(ElicitationAction::Accept), full());
    let asked = asker.asked.clone();
    let outsider = connect_to(jobs.clone(), asker.clone(), Principal::new("eve")).await;
    let denied = call(&outsider, "delete", serde_json::json!({ "id": 1 }), None).await;
    assert_eq!(facts(&denied)["category"], "denied");
    let running = connect_to(jobs.clone(), asker, worker()).await;
    let invalid = call(&running, "delete", serde_json::json!({ "id": "x" }), None).await;
    assert_eq!(facts(&invalid)["category"], "invalid_input");
    assert!(asked.lock().unwrap().is_empty());
    assert_eq!(jobs.deleted.load(std::sync::atomic::Ordering::SeqCst), 0);
}

#[tokio::test(start_paused = true)]
async fn an_unanswered_question_times_out_as_cancelled() {
    let jobs = Jobs::default();
    let mut asker = client(Some(ElicitationAction::Accept), full());
    asker.silent = true;
    let running = connect_to(jobs.clone(), asker, worker()).await;
    let result = call(&running, "delete", serde_json::json!({ "id": 1 }), None).await;
    assert_eq!(facts(&result)["confirmation"], "cancelled", "{result:?}");
    assert_eq!(jobs.deleted.load(std::sync::atomic::Ordering::SeqCst), 0);
}

#[tokio::test(start_paused = true)]
async fn the_users_time_to_answer_is_not_the_handlers_deadline() {
    // The tool has 1 s and takes 0.5 s; the user takes 5 s to say yes.
    let mut asker = client(Some(ElicitationAction::Accept), full());
    asker.content = serde_json::json!({ "confirm": true });
    asker.thinks = std::time::Duration::from_secs(5);
    let running = connect(asker, worker()).await;
    let result = call(&running, "purge", serde_json::json!({ "id": 4 }), None).await;
    assert_eq!(outcome(&result), "purged 4", "{result:?}");
}

/// A client on 2026-07-28 (`server/discover`, no handshake): the server cannot send it
/// requests, and asks through `InputRequiredResult`s, which rmcp's client answers with
/// its handler and retries.
async fn connect_modern(
    jobs: Jobs,
    client: Client,
    principal: Principal,
) -> RunningService<RoleClient, Client> {
    use rmcp::service::{ClientLifecycleMode, ClientServiceExt};
    let client_io = serve(jobs, principal);
    let lifecycle = ClientLifecycleMode::Discover {
        preferred_versions: vec![rmcp::model::ProtocolVersion::V_2026_07_28],
    };
    client
        .serve_with_lifecycle(client_io, lifecycle)
        .await
        .expect("client connects")
}

async fn call_modern(
    client: &RunningService<RoleClient, Client>,
    name: &'static str,
    arguments: serde_json::Value,
) -> rmcp::model::CallToolResult {
    let mut params = CallToolRequestParams::new(name);
    params.arguments = arguments.as_object().cloned();
    client.call_tool(params).await.expect("a result")
}

#[tokio::test]
async fn each_question_of_a_call_finds_its_own_answer() {
    for modern in [false, true] {
        let asker = client(Some(ElicitationAction::Accept), full());
        let asked = asker.asked.clone();
        let running = if modern {
            connect_modern(Jobs::default(), asker, worker()).await
        } else {
            connect(asker, worker()).await
        };
        let result = if modern {
            call_modern(&running, "ask_two", serde_json::json!({})).await
        } else {
            call(&running, "ask_two", serde_json::json!({}), None).await
        };
        assert_eq!(outcome(&result), "Ada then Grace", "modern: {modern}");
        assert_eq!(*asked.lock().unwrap(), ["First name?", "Second name?"]);
    }
}

#[tokio::test]
async fn on_2026_07_28_questions_are_rounds_of_the_call() {
    // A handler's own question: asked in one round, answered in the next.
    let asker = client(Some(ElicitationAction::Accept), full());
    let asked = asker.asked.clone();
    let running = connect_modern(Jobs::default(), asker, worker()).await;
    let result = call_modern(&running, "ask_name", serde_json::json!({})).await;
    assert_eq!(outcome(&result), "hello Ada", "{result:?}");
    assert_eq!(*asked.lock().unwrap(), ["What is your name?"]);
    let result = call_modern(&running, "ask_model", serde_json::json!({})).await;
    assert!(outcome(&result).starts_with("model said"), "{result:?}");

    // A confirmed tool: the question first, the handler once it is answered yes.
    for (answer, ran) in [
        (ElicitationAction::Accept, 1),
        (ElicitationAction::Decline, 0),
    ] {
        let jobs = Jobs::default();
        let mut asker = client(Some(answer.clone()), full());
        asker.content = serde_json::json!({ "confirm": true });
        let asked = asker.asked.clone();
        let running = connect_modern(jobs.clone(), asker, worker()).await;
        let result = call_modern(&running, "delete", serde_json::json!({ "id": 5 })).await;
        assert_eq!(*asked.lock().unwrap(), ["Delete job 5 ((none))?"]);
        assert_eq!(
            jobs.deleted.load(std::sync::atomic::Ordering::SeqCst),
            ran,
            "{answer:?}: {result:?}"
        );
    }

    // A client that declared neither: nothing is asked.
    let running = connect_modern(
        Jobs::default(),
        client(None, ClientCapabilities::default()),
        worker(),
    )
    .await;
    let result = call_modern(&running, "ask_name", serde_json::json!({})).await;
    assert_eq!(outcome(&result), "unsupported");
    let result = call_modern(&running, "delete", serde_json::json!({ "id": 5 })).await;
    assert_eq!(facts(&result)["confirmation"], "unsupported");
}

/// A tool's rate limit counts a 2026-07-28 call once, whatever its rounds: the round that
/// carries the user's yes is the call going on, not a new one (with `1/h`, charging it
/// would refuse the yes for an hour, past the question's life). The next call is limited.
#[tokio::test(start_paused = true)]
async fn on_2026_07_28_a_call_and_its_rounds_count_once_against_the_tools_rate() {
    let jobs = Jobs::default();
    let mut asker = client(Some(ElicitationAction::Accept), full());
    asker.content = serde_json::json!({ "confirm": true });
    let asked = asker.asked.clone();
    let running = connect_modern(jobs.clone(), asker, worker()).await;
    let result = call_modern(&running, "delete_rarely", serde_json::json!({ "id": 5 })).await;
    assert_eq!(outcome(&result), "deleted 5", "{result:?}");
    assert_eq!(*asked.lock().unwrap(), ["Really delete 5?"]);
    let again = call_modern(&running, "delete_rarely", serde_json::json!({ "id": 6 })).await;
    assert_eq!(facts(&again)["category"], "rate_limited", "{again:?}");
    assert_eq!(jobs.deleted.load(std::sync::atomic::Ordering::SeqCst), 1);
    assert_eq!(
        asked.lock().unwrap().len(),
        1,
        "a limited call is not put to the user"
    );
}

#[tokio::test]
async fn writes_degraded_while_the_user_thinks_are_not_made() {
    use crate::health::{HealthMonitor, ServicePath, Status};
    for degrade in [false, true] {
        let jobs = Jobs::default();
        let monitor = HealthMonitor::builder().build();
        let server =
            crate::SecureServerBuilder::with_router(jobs.clone(), Jobs::secure_tool_router())
                .local_principal(worker())
                .health(monitor.clone())
                .build();
        let mut asker = client(Some(ElicitationAction::Accept), full());
        asker.content = serde_json::json!({ "confirm": true });
        if degrade {
            let monitor = monitor.clone();
            asker.meanwhile = Some(Arc::new(move || {
                monitor.force(ServicePath::Writes, Some(Status::Degraded));
            }));
        }
        let running = asker
            .serve(serve_built(server))
            .await
            .expect("client connects");
        let result = call(&running, "delete", serde_json::json!({ "id": 2 }), None).await;
        let ran = jobs.deleted.load(std::sync::atomic::Ordering::SeqCst);
        if degrade {
            assert_eq!(ran, 0, "{result:?}");
            assert_eq!(facts(&result)["degraded"], true, "{result:?}");
        } else {
            assert_eq!(ran, 1, "{result:?}");
            assert_eq!(outcome(&result), "deleted 2");
        }
    }
}

#[tokio::test]
async fn on_2026_07_28_a_forged_or_replayed_state_is_denied_and_nothing_runs() {
    use rmcp::model::{CallToolResponse, InputResponses};
    let jobs = Jobs::default();
    let running = connect_modern(jobs.clone(), client(None, full()), worker()).await;
    let ask = |arguments: serde_json::Value| {
        let mut params = CallToolRequestParams::new("delete");
        params.arguments = arguments.as_object().cloned();
        params
    };
    let first = running
        .call_tool_once(ask(serde_json::json!({ "id": 9 })))
        .await
        .unwrap();
    let CallToolResponse::InputRequired(asked) = first else {
        panic!("expected the question, got {first:?}");
    };
    let state = asked.request_state.expect("a sealed state");
    let mut yes = InputResponses::new();
    yes.insert(
        crate::confirm::INPUT_KEY.to_owned(),
        serde_json::json!({ "action": "accept", "content": { "confirm": true } }),
    );
    let retry = |state: &str, arguments: serde_json::Value| {
        let mut params = ask(arguments);
        params.request_state = Some(state.to_owned());
        params.input_responses = Some(yes.clone());
        params
    };
    let complete = |response: CallToolResponse| match response {
        CallToolResponse::Complete(result) => result,
        other => panic!("expected a result, got {other:?}"),
    };
    let mut forged = state.clone();
    let last = forged.pop().unwrap();
    forged.push(if last == 'A' { 'B' } else { 'A' });
    for (state, arguments) in [
        (forged.as_str(), serde_json::json!({ "id": 9 })),
        // Another call's arguments.
        (state.as_str(), serde_json::json!({ "id": 10 })),
    ] {
        let denied = complete(
            running
                .call_tool_once(retry(state, arguments))
                .await
                .unwrap(),
        );
        assert_eq!(facts(&denied)["category"], "denied", "{denied:?}");
    }
    assert_eq!(jobs.deleted.load(std::sync::atomic::Ordering::SeqCst), 0);
    let done = complete(
        running
            .call_tool_once(retry(&state, serde_json::json!({ "id": 9 })))
            .await
            .unwrap(),
    );
    assert_eq!(outcome(&done), "deleted 9");
    let replayed = complete(
        running
            .call_tool_once(retry(&state, serde_json::json!({ "id": 9 })))
            .await
            .unwrap(),
    );
    assert_eq!(facts(&replayed)["category"], "denied", "{replayed:?}");
    assert_eq!(jobs.deleted.load(std::sync::atomic::Ordering::SeqCst), 1);
}

#[tokio::test]
async fn on_2026_07_28_a_retry_answers_only_what_its_round_asked() {
    use rmcp::model::{CallToolResponse, InputResponses};
    let running = connect_modern(Jobs::default(), client(None, full()), worker()).await;
    let accept =
        |name: &str| serde_json::json!({ "action": "accept", "content": { "name": name } });
    let round = |state: Option<String>, answers: &[(&str, &str)]| {
        let mut params = CallToolRequestParams::new("ask_two");
        params.arguments = Some(serde_json::Map::new());
        params.request_state = state;
        if !answers.is_empty() {
            let mut responses = InputResponses::new();
            for (key, name) in answers {
                responses.insert((*key).to_owned(), accept(name));
            }
            params.input_responses = Some(responses);
        }
        let running = &running;
        async move { running.call_tool_once(params).await.unwrap() }
    };
    let asked = |response: CallToolResponse| match response {
        CallToolResponse::InputRequired(asked) => {
            let keys: Vec<String> = asked.input_requests.unwrap().into_keys().collect();
            (keys, asked.request_state.expect("a sealed state"))
        }
        other => panic!("expected a question, got {other:?}"),
    };
    let (keys, state) = asked(round(None, &[]).await);
    assert_eq!(keys, ["elicit-0"]);
    // The first question answered, and the second answered ahead, before it was put: the
    // second is asked all the same.
    let (keys, state) = asked(
        round(
            Some(state),
            &[("elicit-0", "Ada"), ("elicit-1", "Forged ahead")],
        )
        .await,
    );
    assert_eq!(keys, ["elicit-1"]);
    // The second answered, and the first changed after the call went on from it: the
    // change is not taken.
    let done = round(
        Some(state),
        &[("elicit-1", "Grace"), ("elicit-0", "Changed after")],
    )
    .await;
    let CallToolResponse::Complete(result) = done else {
        panic!("expected a result, got {done:?}");
    };
    assert_eq!(outcome(&result), "Ada then Grace");
}
