//! `vitrine staff`: tokens for store staff, each limited to its stores (HQ's admin token makes,
//! lists and revokes them).

use anyhow::Context as _;
use vitrine_wire::staff::{NewStaff, StaffList};

use crate::ServerArgs;
use crate::client::connect;
use crate::hq::get_or_print_json;

/// `vitrine staff add NAME --store S [--store S2] [--tag T]`: prints the token alone on stdout,
/// once.
pub async fn add(
    name: &str,
    stores: &[String],
    tags: &[String],
    server: &ServerArgs,
) -> anyhow::Result<()> {
    let created = connect(server)?
        .create_staff(&NewStaff {
            name: name.to_owned(),
            stores: stores.to_vec(),
            tags: tags.to_vec(),
        })
        .await
        .with_context(|| format!("could not make a staff token for \"{name}\""))?;
    println!("{}", created.token);
    eprintln!(
        "made a staff token for \"{name}\" (stores: {}; screen tags: {}). The line above is the \
         token, shown this once: hand it over privately. It pushes its stores' playlists, pairs \
         and manages screens and reads reports for these stores only.",
        created.stores.join(", "),
        if created.tags.is_empty() {
            "none".to_owned()
        } else {
            created.tags.join(", ")
        }
    );
    Ok(())
}

/// `vitrine staff list`.
pub async fn list(server: &ServerArgs, json: bool) -> anyhow::Result<()> {
    let Some(list) = get_or_print_json::<StaffList>(server, "/v1/staff", json).await? else {
        return Ok(());
    };
    println!("{:<24} {:<32} {:<26} REVOKED", "NAME", "STORES", "CREATED");
    for member in &list.staff {
        println!(
            "{:<24} {:<32} {:<26} {}",
            member.name,
            member.stores.join(","),
            member.created_at,
            member.revoked_at.as_deref().unwrap_or("-")
        );
    }
    Ok(())
}

/// `vitrine staff revoke NAME`: the token stops working now.
pub async fn revoke(name: &str, server: &ServerArgs) -> anyhow::Result<()> {
    let plain = !name.is_empty()
        && name
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'.' | b'_' | b'-'));
    anyhow::ensure!(
        plain,
        "staff name `{name}` may hold only letters, digits, `.`, `_` and `-`"
    );
    connect(server)?
        .revoke_staff(name)
        .await
        .with_context(|| format!("could not revoke staff token \"{name}\""))?;
    eprintln!("revoked staff token \"{name}\": it is refused from now on.");
    Ok(())
}
