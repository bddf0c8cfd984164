//! The migrations apply on a fresh database and on one that already has the Supabase
//! baseline (as a Supabase project does), and the baseline applies twice.

use db_tests::connect;
use std::process::Command;

fn url_for(db: &str) -> String {
    let base = std::env::var("E2E_DATABASE_URL").expect("E2E_DATABASE_URL: run with `make test`");
    let (head, tail) = base.rsplit_once('/').expect("a database URL");
    let query = tail.split_once('?').map(|(_, q)| format!("?{q}")).unwrap_or_default();
    format!("{head}/{db}{query}")
}

fn run(program: &str, args: &[&str]) {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    let out = Command::new(program).args(args).current_dir(root).output().unwrap_or_else(|e| panic!("{program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

async fn fresh_database(name: &str) -> String {
    let admin = connect().await;
    admin.batch_execute(&format!("drop database if exists {name}")).await.unwrap();
    admin.batch_execute(&format!("create database {name}")).await.unwrap();
    url_for(name)
}

#[tokio::test]
async fn baseline_migrations_and_seed_apply_to_a_fresh_database() {
    let url = fresh_database(&format!("fresh_{}", std::process::id())).await;
    run("bash", &["scripts/db-setup.sh", &url]);
    // And again: nothing left to apply, the seed changes nothing.
    run("bash", &["scripts/db-setup.sh", &url]);
}

#[tokio::test]
async fn migrations_apply_on_a_database_that_already_has_the_baseline() {
    let url = fresh_database(&format!("baselined_{}", std::process::id())).await;
    let psql_url = url.split('?').next().unwrap_or(&url).to_string();
    for _ in 0..2 {
        run("psql", &[&psql_url, "-q", "-v", "ON_ERROR_STOP=1", "-f", "supabase/baseline.sql"]);
    }
    run("sqlx", &["migrate", "run", "--source", "migrations", "--database-url", &url, "--no-dotenv"]);
    run("psql", &[&psql_url, "-q", "-v", "ON_ERROR_STOP=1", "-f", "supabase/seed.sql"]);
}
