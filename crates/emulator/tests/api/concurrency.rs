//! Many clients at once against one emulator.

use futures::future::join_all;
use reqwest::{Method, StatusCode};

use crate::helpers::spawn_emulator;

const CLIENTS: usize = 200;
const ACCOUNTS: usize = 4;
const SERVICES_PER_CLIENT: usize = 2;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_clients_create_services_and_poll_deploys_consistently() {
    let t = std::sync::Arc::new(spawn_emulator().await);
    let mut accounts = Vec::new();
    for i in 0..ACCOUNTS {
        accounts.push(t.account(&format!("acct{i}")).await);
    }
    let accounts = std::sync::Arc::new(accounts);

    let tasks = (0..CLIENTS).map(|client| {
        let t = std::sync::Arc::clone(&t);
        let accounts = std::sync::Arc::clone(&accounts);
        tokio::spawn(async move {
            let acct = &accounts[client % ACCOUNTS];
            for n in 0..SERVICES_PER_CLIENT {
                let created = t
                    .create_web_service(acct, &format!("c{client}-s{n}"), "https://github.com/o/r")
                    .await;
                let id = created["service"]["id"].as_str().expect("id").to_owned();
                let deploy = created["deployId"].as_str().expect("deploy").to_owned();
                let done = t.wait_for_deploy(&acct.api_key, &id, &deploy).await;
                assert_eq!(done["status"], "live");
            }
        })
    });
    for result in join_all(tasks).await {
        result.expect("client task succeeded");
    }

    for acct in accounts.iter() {
        let mut count = 0;
        let mut cursor = String::new();
        loop {
            let path = if cursor.is_empty() {
                "/services?limit=100".to_owned()
            } else {
                format!(
                    "/services?limit=100&cursor={}",
                    url::form_urlencoded::byte_serialize(cursor.as_bytes()).collect::<String>()
                )
            };
            let page = t
                .render_json(Method::GET, &acct.api_key, &path, None, StatusCode::OK)
                .await;
            let items = page.as_array().expect("array");
            if items.is_empty() {
                break;
            }
            assert!(
                items
                    .iter()
                    .all(|i| i["service"]["ownerId"] == acct.owner_id.as_str())
            );
            count += items.len();
            cursor = items.last().expect("last")["cursor"]
                .as_str()
                .expect("cursor")
                .to_owned();
        }
        assert_eq!(count, CLIENTS / ACCOUNTS * SERVICES_PER_CLIENT);
    }
}
