//! Signing keys: generated on first start, rotated with old keys still trusted, retired.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use regent_control_plane::config::Config;
use regent_control_plane::keyring::{self, KeyRing};
use regent_control_plane::store::Store;
use sqlx::PgPool;

async fn states(pool: &PgPool) -> Vec<(String, String)> {
    sqlx::query_as("SELECT kid, state FROM signing_keys ORDER BY kid")
        .fetch_all(pool)
        .await
        .unwrap()
}

#[sqlx::test(migrations = "../migrations")]
async fn first_start_generates_rotation_keeps_old_keys_trusted_retire_drops_them(pool: PgPool) {
    let store = Store::from_pool(pool.clone());
    let dir = tempfile::tempdir().unwrap();
    let config = Config {
        data_dir: dir.path().to_path_buf(),
        ..Config::default()
    };

    let first = KeyRing::load(&config).unwrap();
    assert_eq!(first.signing().kid(), "regent-1");
    let key_file = dir.path().join("keys/regent-1.key.pem");
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&key_file).unwrap().permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);
    first.register(&store).await.unwrap();
    assert_eq!(states(&pool).await, [("regent-1".into(), "active".into())]);

    // A restart loads the same key.
    let again = KeyRing::load(&config).unwrap();
    assert_eq!(
        again.signing().public_key().spki_der(),
        first.signing().public_key().spki_der()
    );

    let rotated = keyring::rotate(&dir.path().join("keys"), None).unwrap();
    assert_eq!(rotated.kid(), "regent-2");
    let ring = KeyRing::load(&config).unwrap();
    assert_eq!(ring.signing().kid(), "regent-2");
    assert!(
        ring.trusted().get("regent-1").is_some(),
        "old key still trusted"
    );
    ring.register(&store).await.unwrap();
    assert_eq!(
        states(&pool).await,
        [
            ("regent-1".into(), "verify_only".into()),
            ("regent-2".into(), "active".into())
        ]
    );

    // The active key cannot be retired; an old one can.
    assert!(keyring::retire(&dir.path().join("keys"), "regent-2").is_err());
    keyring::retire(&dir.path().join("keys"), "regent-1").unwrap();
    let ring = KeyRing::load(&config).unwrap();
    assert!(ring.trusted().get("regent-1").is_none());
    ring.register(&store).await.unwrap();
    assert_eq!(
        states(&pool).await,
        [
            ("regent-1".into(), "retired".into()),
            ("regent-2".into(), "active".into())
        ]
    );
    assert!(keyring::retire(&dir.path().join("keys"), "regent-9").is_err());
}

#[test]
fn a_configured_key_from_the_environment_wins() {
    let key =
        regent_bundle::SigningKey::generate("ci-key", regent_bundle::KeyAlgorithm::Es256).unwrap();
    let mut config = Config::default();
    config.signing.key_pem = Some(key.to_pem());
    config.signing.kid = Some("ci-key".into());
    config.data_dir = tempfile::tempdir().unwrap().path().to_path_buf();
    let ring = KeyRing::load(&config).unwrap();
    assert_eq!(ring.signing().kid(), "ci-key");
    assert_eq!(
        ring.signing().public_key().spki_der(),
        key.public_key().spki_der()
    );
    assert!(!config.data_dir.join("keys").exists(), "nothing generated");

    config.signing.key_pem = Some("not a key".into());
    let err = KeyRing::load(&config).unwrap_err();
    assert!(err.to_string().contains("REGENT_SIGNING_KEY"), "{err}");
    assert!(
        !err.to_string().contains("not a key"),
        "no secret in the message: {err}"
    );
}
