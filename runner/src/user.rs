//! `USER name[:group]` → uid, gid, supplementary groups, resolved in the image's
//! /etc/passwd and /etc/group as Docker (runc's `user.GetExecUser`) does: numeric ids need
//! no entry; a name without an entry is an error; the primary gid comes from the passwd
//! entry unless a group is given; supplementary groups are those listing the user.

/// A resolved user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecUser {
    pub uid: u32,
    pub gid: u32,
    /// Supplementary groups (from /etc/group), the primary one not repeated.
    pub groups: Vec<u32>,
    /// The home directory (`/` when unknown), for `HOME`.
    pub home: String,
}

/// Resolves `spec` (`""` means root) against the text of /etc/passwd and /etc/group
/// (empty when the image has none).
pub fn resolve(spec: &str, passwd: &str, group: &str) -> Result<ExecUser, String> {
    let (user, grp) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let user = if user.is_empty() { "0" } else { user };
    // name:password:uid:gid:gecos:home:shell
    let entries = passwd.lines().filter_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() >= 7 && !l.starts_with('#')).then(|| (f[0], f[2].parse::<u32>().ok(), f[3].parse::<u32>().ok(), f[5]))
    });
    let numeric = user.parse::<u32>().ok();
    let found = entries
        .clone()
        .find(|(name, uid, _, _)| *name == user || (numeric.is_some() && *uid == numeric));
    let (uid, mut gid, home, name) = match (found, numeric) {
        (Some((name, Some(uid), Some(gid), home)), _) => (uid, gid, home.to_string(), Some(name)),
        (_, Some(uid)) => (uid, 0, "/".to_string(), None),
        _ => {
            return Err(format!(
                "unable to find user {user}: no matching entries in passwd file"
            ))
        }
    };
    // name:password:gid:member,member
    let groups: Vec<(&str, Option<u32>, Vec<&str>)> = group
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.len() >= 4).then(|| {
                (
                    f[0],
                    f[2].parse().ok(),
                    f[3].split(',').filter(|m| !m.is_empty()).collect(),
                )
            })
        })
        .collect();
    if let Some(g) = grp {
        let numeric = g.parse::<u32>().ok();
        gid = match groups
            .iter()
            .find(|(n, id, _)| *n == g || (numeric.is_some() && *id == numeric))
        {
            Some((_, Some(id), _)) => *id,
            _ => numeric.ok_or_else(|| format!("unable to find group {g}: no matching entries in group file"))?,
        };
    }
    let mut supplementary = Vec::new();
    if grp.is_none() {
        if let Some(name) = name {
            for (_, id, members) in &groups {
                if let Some(id) = id {
                    if members.contains(&name) && *id != gid && !supplementary.contains(id) {
                        supplementary.push(*id);
                    }
                }
            }
        }
    }
    Ok(ExecUser {
        uid,
        gid,
        groups: supplementary,
        home,
    })
}

/// The owner `--chown=SPEC` (or a WORKDIR under `USER SPEC`) gives what it creates, as
/// BuildKit resolves it (`solver/llbsolver/file/user_linux.go` `readUser`): a numeric user
/// without a group means that number as the group too (`--chown=1000` is 1000:1000); a user
/// name takes its uid and primary gid from /etc/passwd; a group, numeric or a name in
/// /etc/group, replaces the gid.
pub fn owner(spec: &str, passwd: &str, group: &str) -> Result<(u32, u32), String> {
    let (user, grp) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let (uid, mut gid) = match user.parse::<u32>() {
        Ok(n) => (n, n),
        Err(_) if user.is_empty() => (0, 0),
        Err(_) => {
            let u = resolve(user, passwd, "")?;
            (u.uid, u.gid)
        }
    };
    if let Some(g) = grp.filter(|g| !g.is_empty()) {
        gid = match g.parse::<u32>() {
            Ok(n) => n,
            Err(_) => resolve(&format!("0:{g}"), "", group)?.gid,
        };
    }
    Ok((uid, gid))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\nredis:x:100:101:Redis:/var/lib/redis:/usr/sbin/nologin\n";
    const GROUP: &str = "root:x:0:\nredis:x:101:\nstaff:x:50:redis,other\n";

    fn check(spec: &str) -> String {
        match resolve(spec, PASSWD, GROUP) {
            Ok(u) => format!("{}:{} {:?} {}", u.uid, u.gid, u.groups, u.home),
            Err(e) => format!("error: {e}"),
        }
    }

    #[test]
    fn users_resolve_like_docker() {
        assert_eq!(check(""), "0:0 [] /root");
        assert_eq!(check("redis"), "100:101 [50] /var/lib/redis");
        assert_eq!(check("100"), "100:101 [50] /var/lib/redis");
        assert_eq!(check("redis:staff"), "100:50 [] /var/lib/redis");
        assert_eq!(check("1234"), "1234:0 [] /");
        assert_eq!(check("1234:99"), "1234:99 [] /");
        assert_eq!(
            check("nobody"),
            "error: unable to find user nobody: no matching entries in passwd file"
        );
        assert_eq!(
            check("redis:nogroup"),
            "error: unable to find group nogroup: no matching entries in group file"
        );
        assert_eq!(resolve("0", "", "").unwrap().uid, 0);
    }

    #[test]
    fn chown_owners_resolve_like_buildkit() {
        let check = |spec: &str| match owner(spec, PASSWD, GROUP) {
            Ok((u, g)) => format!("{u}:{g}"),
            Err(e) => format!("error: {e}"),
        };
        // A bare number is the group too, whatever passwd says of that uid.
        assert_eq!(check("100"), "100:100");
        assert_eq!(check("1234"), "1234:1234");
        assert_eq!(check("redis"), "100:101");
        assert_eq!(check("redis:staff"), "100:50");
        assert_eq!(check("100:7"), "100:7");
        assert_eq!(check(":50"), "0:50");
        assert_eq!(check(""), "0:0");
        assert!(check("nobody").starts_with("error: unable to find user nobody"));
        assert!(check("redis:nogroup").starts_with("error: unable to find group nogroup"));
    }
}
