//! A Worker started with a limit that is not a number: health answers 500 naming the
//! variable, and the doors that depend on the limits refuse (nothing runs on silent
//! defaults); restarted with a good configuration, it serves again. Run alone by
//! scripts/test.sh (it restarts the Worker through scripts/worker.sh).

use e2e::{post_json, user_token, ADA};
use serde_json::json;
use std::process::Command;

fn restart_worker(extra_vars: &str, ready_status: &str) {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/worker.sh");
    let status = Command::new("bash")
        .arg(script)
        .arg("restart")
        .env("WORKER_EXTRA_VARS", extra_vars)
        .env("WORKER_READY_STATUS", ready_status)
        .status()
        .expect("running scripts/worker.sh");
    assert!(status.success(), "scripts/worker.sh restart failed (run with `make test`)");
}

#[tokio::test]
async fn worker_misconfigured_health_names_the_setting_and_every_door_refuses() {
    restart_worker("MAX_MESSAGES_PER_SECOND:lots", "500");
    let (status, body) = e2e::get_json("/functions/v1/health").await;
    let outcome = std::panic::AssertUnwindSafe(async {
        assert_eq!((status, body["status"].as_str()), (500, Some("misconfigured")), "{body}");
        assert_eq!(body["error"]["code"], "misconfigured");
        assert!(body["error"]["message"].as_str().is_some_and(|m| m.contains("MAX_MESSAGES_PER_SECOND")), "{body}");

        let refused = e2e::refused_upgrade(&format!("apikey={}&vsn=2.0.0", user_token(ADA))).await;
        assert_eq!(refused.status, 500, "the realtime socket refuses: {:?}", refused.body);
        assert_eq!(refused.body["error"]["code"], "internal", "the details stay in the log");
        let send = post_json(
            "/functions/v1/messages",
            Some(&user_token(ADA)),
            &json!({"thread_id": "aaaaaaaa-0000-4000-8000-000000000001", "body": "on defaults?"}),
        )
        .await;
        assert_eq!(send.status, 500, "a send refuses rather than run on a default budget: {:?}", send.body);
    });
    let result = futures_util::FutureExt::catch_unwind(outcome).await;
    // Whatever happened, the rest of the run gets a well-configured Worker back.
    restart_worker("", "200");
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
    let (status, _) = e2e::get_json("/functions/v1/health").await;
    assert_eq!(status, 200, "healthy again with a good configuration");
}
