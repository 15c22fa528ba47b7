//! `regent bundle`: build, inspect, verify and test bundles.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, anyhow};
use clap::Subcommand;
use regent_bundle::validate::TestStatus;
use regent_bundle::{
    BuildOptions, Bundle, Evaluator, Limits, PublicKey, SignOptions, SigningKey, TrustedKeys,
    cases, eval::DEFAULT_EVAL_LIMIT,
};

use super::{CliResult, Failure};

#[derive(Debug, Subcommand)]
pub enum BundleCommand {
    /// Build a bundle from a source folder (deterministic: same folder, same bytes).
    Build {
        /// Source folder (a persona folder with `regent.yaml`, or any folder of Rego and data).
        dir: PathBuf,
        /// Where to write the tar.gz.
        #[arg(long)]
        out: PathBuf,
        /// Manifest revision (default: the content digest).
        #[arg(long)]
        revision: Option<String>,
        /// Sign with this private key (PKCS#8 PEM, EC P-256 or RSA).
        #[arg(long, requires = "kid")]
        sign: Option<PathBuf>,
        /// Key id for the signature.
        #[arg(long)]
        kid: Option<String>,
        /// Signature scope (default: the folder's persona).
        #[arg(long)]
        scope: Option<String>,
        /// Skip compiling and running the bundle's tests before writing it.
        #[arg(long)]
        no_validate: bool,
    },
    /// Show a bundle's manifest, files, modules and signature.
    Inspect {
        file: PathBuf,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Verify a bundle's `.signatures.json` against trusted public keys.
    Verify {
        file: PathBuf,
        /// Trusted public key (SPKI PEM); `KID=PATH` binds a key id. Repeat for rotation.
        #[arg(long = "key", required = true)]
        keys: Vec<String>,
        /// Required scope (default: the bundle's persona).
        #[arg(long)]
        scope: Option<String>,
    },
    /// Compile a bundle and run its `test_*` rules and, for a folder, its `cases.yaml`.
    Test {
        /// A source folder or a bundle file.
        path: PathBuf,
        /// Show every test and case, not only failures.
        #[arg(long, short)]
        verbose: bool,
    },
}

pub fn run(cmd: BundleCommand) -> CliResult {
    match cmd {
        BundleCommand::Build {
            dir,
            out,
            revision,
            sign,
            kid,
            scope,
            no_validate,
        } => build(
            &dir,
            &out,
            revision,
            sign.as_deref().zip(kid.as_deref()),
            scope,
            no_validate,
        ),
        BundleCommand::Inspect { file, json } => inspect(&file, json),
        BundleCommand::Verify { file, keys, scope } => verify(&file, &keys, scope),
        BundleCommand::Test { path, verbose } => test(&path, verbose),
    }
}

fn refused(e: impl Into<anyhow::Error>) -> Failure {
    Failure::Refused(e.into())
}

fn load_dir(dir: &Path, revision: Option<String>) -> Result<Bundle, Failure> {
    if !dir.is_dir() {
        return Err(Failure::Usage(anyhow!(
            "`{}` is not a folder",
            dir.display()
        )));
    }
    regent_bundle::build_dir(
        dir,
        &BuildOptions {
            revision,
            ..BuildOptions::default()
        },
    )
    .map_err(|e| match e {
        regent_bundle::BuildError::Io { .. } => Failure::Usage(e.into()),
        other => refused(other),
    })
}

fn load_file(file: &Path) -> Result<Bundle, Failure> {
    let bytes = std::fs::read(file).with_context(|| format!("cannot read `{}`", file.display()))?;
    regent_bundle::read_bundle(&bytes, &Limits::DEFAULT)
        .map_err(|e| refused(anyhow!(e).context(format!("`{}`", file.display()))))
}

fn build(
    dir: &Path,
    out: &Path,
    revision: Option<String>,
    signing: Option<(&Path, &str)>,
    scope: Option<String>,
    no_validate: bool,
) -> CliResult {
    let mut bundle = load_dir(dir, revision)?;
    if !no_validate {
        let report = regent_bundle::validate(&bundle, None).map_err(refused)?;
        eprintln!(
            "validated: {} modules compiled, {} tests passed",
            report.modules,
            report.tests.results.len()
        );
    }
    if let Some((key_path, kid)) = signing {
        let pem = std::fs::read_to_string(key_path)
            .with_context(|| format!("cannot read signing key `{}`", key_path.display()))?;
        let key = SigningKey::from_pem(kid, &pem)
            .with_context(|| format!("signing key `{}`", key_path.display()))?;
        let scope = scope.or_else(|| bundle.manifest.persona().map(str::to_owned));
        regent_bundle::sign_bundle(
            &mut bundle,
            &key,
            &SignOptions {
                scope: scope.clone(),
                iss: Some("regent".into()),
                iat: None,
            },
        )
        .map_err(refused)?;
        eprintln!(
            "signed: {} with `{kid}`, scope {}",
            key.algorithm(),
            scope.as_deref().unwrap_or("(none)")
        );
    }
    let archive = bundle.to_archive().map_err(refused)?;
    std::fs::write(out, &archive).with_context(|| format!("cannot write `{}`", out.display()))?;
    println!(
        "{}: {} files, {} bytes, revision {}, content sha256:{}",
        out.display(),
        bundle.files.len(),
        archive.len(),
        bundle.manifest.revision,
        bundle.content_digest()
    );
    Ok(())
}

fn inspect(file: &Path, json: bool) -> CliResult {
    let bytes = std::fs::read(file).with_context(|| format!("cannot read `{}`", file.display()))?;
    let bundle = load_file(file)?;
    let files: Vec<_> = bundle
        .files
        .iter()
        .map(|f| {
            let hash = regent_bundle::signature::digest(&f.path, &f.bytes, "SHA-256")
                .unwrap_or_else(|e| format!("(unhashable: {e})"));
            serde_json::json!({"path": f.path, "size": f.bytes.len(), "sha256": hash})
        })
        .collect();
    let modules: Vec<_> = bundle
        .modules
        .iter()
        .map(|m| serde_json::json!({"path": m.path, "rego_version": m.rego_version.as_int()}))
        .collect();
    let signature = bundle.signatures.as_ref().map(signature_summary);
    let archive_sha = regent_bundle::bundle::hex(&<sha2::Sha256 as sha2::Digest>::digest(&bytes));
    let report = serde_json::json!({
        "archive": {"path": file.display().to_string(), "size": bytes.len(), "sha256": archive_sha},
        "content_digest": bundle.content_digest(),
        "manifest": bundle.manifest,
        "files": files,
        "modules": modules,
        "signature": signature,
    });
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    let m = &bundle.manifest;
    println!(
        "bundle     {} ({} bytes, sha256:{archive_sha})",
        file.display(),
        bytes.len()
    );
    println!(
        "revision   {}",
        if m.revision.is_empty() {
            "(none)"
        } else {
            &m.revision
        }
    );
    println!("persona    {}", m.persona().unwrap_or("(none)"));
    println!("entrypoint {}", m.entrypoint().unwrap_or("(none)"));
    if let Some(seq) = m.sequence() {
        println!("sequence   {seq}");
    }
    println!("roots      {:?}", m.effective_roots());
    println!("content    sha256:{}", bundle.content_digest());
    match &signature {
        Some(sig) => println!("signature  {sig}"),
        None => println!("signature  (unsigned)"),
    }
    println!("files:");
    for f in &files {
        println!(
            "  {:>8}  {}  {}",
            f["size"],
            &f["sha256"].as_str().unwrap_or("")[..12.min(f["sha256"].as_str().unwrap_or("").len())],
            f["path"].as_str().unwrap_or("")
        );
    }
    Ok(())
}

/// The header and claims of the (single) JWS, unverified, for display.
fn signature_summary(file: &regent_bundle::bundle::SignaturesFile) -> serde_json::Value {
    use base64::Engine as _;
    let decode = |part: Option<&str>| {
        part.and_then(|p| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(p)
                .ok()
        })
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .unwrap_or(serde_json::Value::Null)
    };
    let token = file.signatures.first().map(String::as_str).unwrap_or("");
    let mut parts = token.split('.');
    let header = decode(parts.next());
    let payload = decode(parts.next());
    serde_json::json!({
        "count": file.signatures.len(),
        "alg": header["alg"], "kid": header["kid"],
        "scope": payload["scope"], "iat": payload["iat"], "iss": payload["iss"],
        "files": payload["files"].as_array().map_or(0, Vec::len),
    })
}

fn verify(file: &Path, keys: &[String], scope: Option<String>) -> CliResult {
    let bundle = load_file(file)?;
    let signed_kid = bundle
        .signatures
        .as_ref()
        .map(signature_summary)
        .and_then(|s| s["kid"].as_str().map(str::to_owned));
    let mut trusted = TrustedKeys::new();
    for spec in keys {
        let (kid, path) = match spec.split_once('=') {
            Some((kid, path)) => (kid.to_owned(), path),
            // One unnamed key: trust it under the kid the bundle names (like OPA's
            // --verification-key); several need explicit ids.
            None if keys.len() == 1 => (
                signed_kid.clone().unwrap_or_else(|| "default".into()),
                spec.as_str(),
            ),
            None => {
                return Err(Failure::Usage(anyhow!(
                    "with several keys, name each one: --key KID=PATH (got `{spec}`)"
                )));
            }
        };
        let pem =
            std::fs::read_to_string(path).with_context(|| format!("cannot read key `{path}`"))?;
        trusted.add(PublicKey::from_pem(&kid, &pem).with_context(|| format!("key `{path}`"))?)?;
    }
    let scope = scope.or_else(|| bundle.manifest.persona().map(str::to_owned));
    let verified =
        regent_bundle::verify_bundle(&bundle, &trusted, scope.as_deref()).map_err(|e| {
            refused(anyhow!(e).context(format!("`{}` failed verification", file.display())))
        })?;
    println!(
        "{}: signature OK ({} key `{}`, scope {}, {} files)",
        file.display(),
        verified.algorithm,
        verified.kid,
        verified.scope.as_deref().unwrap_or("(none)"),
        verified.files
    );
    Ok(())
}

fn test(path: &Path, verbose: bool) -> CliResult {
    let bundle = if path.is_dir() {
        load_dir(path, None)?
    } else {
        load_file(path)?
    };
    let compiled = regent_bundle::validate::compile(&bundle).map_err(refused)?;
    let report = compiled.run_tests();
    let mut failures = 0;
    for result in &report.results {
        let (label, detail) = match &result.status {
            TestStatus::Pass => ("PASS", String::new()),
            TestStatus::Fail { got } => ("FAIL", format!(" (got {got})")),
            TestStatus::Error { message } => ("ERROR", format!(": {message}")),
        };
        if !result.passed() {
            failures += 1;
        }
        if verbose || !result.passed() {
            println!(
                "{}: {} {label}{detail} ({:?})",
                result.file,
                result.rule_path(),
                result.duration
            );
        }
    }
    println!(
        "{} passed, {failures} failed: policy tests",
        report.results.len() - failures
    );

    if let Some(entrypoint) = bundle.manifest.entrypoint() {
        compiled.check_entrypoint(entrypoint).map_err(refused)?;
    }
    let cases_path = path.join(cases::CASES_FILE);
    let mut case_failures = 0;
    if path.is_dir() && cases_path.exists() {
        let file = cases::load(&cases_path)?;
        let evaluator = Evaluator::new(&bundle, None, DEFAULT_EVAL_LIMIT).map_err(refused)?;
        let results = cases::run(&evaluator, &file);
        for result in &results {
            if !result.passed() {
                case_failures += 1;
                println!(
                    "case `{}` FAIL: {}",
                    result.name,
                    result.mismatches.join("; ")
                );
                println!("  decision: {}", result.decision);
            } else if verbose {
                println!("case `{}` PASS", result.name);
            }
        }
        println!(
            "{} passed, {case_failures} failed: cases",
            results.len() - case_failures
        );
    }
    if failures + case_failures > 0 {
        return Err(refused(anyhow!(
            "{failures} policy test(s) and {case_failures} case(s) failed"
        )));
    }
    Ok(())
}
