//! Key names, the entry frame (versioned, with expiry, creation time and tags), and the
//! commands both Redis tiers send.

#[allow(unused_imports)]
use super::*;

impl Settings {
    pub(super) fn new(ttl: Duration) -> Self {
        Self {
            prefix: "nexus".into(),
            ttl,
            max_ttl: None,
            max_entry_bytes: 16 << 20,
            timeout: Duration::from_secs(1),
        }
    }

    pub(super) fn validate(&self) -> Result<(), TierError> {
        let ok = !self.prefix.is_empty()
            && self.prefix.len() <= 64
            && self
                .prefix
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b));
        if ok {
            Ok(())
        } else {
            Err(TierError::Other(std::sync::Arc::new(
                std::io::Error::other(format!(
                    "prefix {:?} must be 1-64 characters of [A-Za-z0-9_.-]",
                    self.prefix
                )),
            )))
        }
    }

    pub(super) fn data_key(&self, key: &str) -> String {
        format!("{}:k:{key}", self.prefix)
    }

    /// The longest an entry stays (and so how long a tag mark must be kept).
    pub(super) fn max_ttl(&self) -> Duration {
        self.max_ttl.unwrap_or(self.ttl).max(self.ttl)
    }

    /// The invalidation mark of a tag; the empty tag is the mark of `clear`.
    pub(super) fn mark_key(&self, tag: &str) -> String {
        if tag.is_empty() {
            format!("{}:tt", self.prefix)
        } else {
            format!("{}:tt:{tag}", self.prefix)
        }
    }

    pub(super) fn mark_cmd(&self, tag: &str, at: u64) -> (String, Cmd) {
        let key = self.mark_key(tag);
        let mut c = redis::cmd("EVAL");
        c.arg(MARK)
            .arg(1)
            .arg(&key)
            .arg(at)
            .arg(self.max_ttl().as_millis().max(1) as u64);
        (key, c)
    }

    /// The distributed single-flight lock of a key.
    pub(super) fn lock_key(&self, key: &str) -> String {
        format!("{}:l:{key}", self.prefix)
    }

    /// The fleet's hot set: a sorted set of keys by accumulated accesses.
    pub(super) fn hot_key(&self) -> String {
        format!("{}:hot", self.prefix)
    }

    /// `ZINCRBY` each key, keep the 1 000 hottest, expire in a day.
    pub(super) fn hot_pipeline(&self, keys: &[(String, u64)]) -> Pipeline {
        let set = self.hot_key();
        let mut pipe = redis::pipe();
        for (k, n) in keys {
            pipe.cmd("ZINCRBY").arg(&set).arg(*n).arg(k).ignore();
        }
        pipe.cmd("ZREMRANGEBYRANK")
            .arg(&set)
            .arg(0)
            .arg(-1001)
            .ignore();
        pipe.cmd("PEXPIRE").arg(&set).arg(86_400_000u64).ignore();
        pipe
    }

    /// `SET lock token NX PX ttl`: replies OK (taken) or nil (held by someone else).
    pub(super) fn lock_cmd(&self, key: &str, token: &str, ttl: Duration) -> Cmd {
        let mut c = redis::cmd("SET");
        c.arg(self.lock_key(key))
            .arg(token)
            .arg("NX")
            .arg("PX")
            .arg(ttl.as_millis().max(1) as u64);
        c
    }

    pub(super) fn unlock_cmd(&self, key: &str, token: &str) -> Cmd {
        let mut c = redis::cmd("EVAL");
        c.arg(UNLOCK).arg(1).arg(self.lock_key(key)).arg(token);
        c
    }

    pub(super) fn hot_read_cmd(&self, n: usize) -> Cmd {
        let mut c = redis::cmd("ZREVRANGE");
        c.arg(self.hot_key()).arg(0).arg(n.max(1) as i64 - 1);
        c
    }
}

/// The frame a Redis tier stores for an entry.
pub(super) fn encode_frame(entry: &Entry, value: &[u8]) -> Vec<u8> {
    let tag_bytes: usize = entry.tags.iter().map(|t| t.len() + 2).sum();
    let mut out = Vec::with_capacity(19 + tag_bytes + value.len());
    out.push(FRAME_VERSION);
    out.extend_from_slice(&entry.expires_at.to_le_bytes());
    out.extend_from_slice(&entry.created_at.to_le_bytes());
    out.extend_from_slice(&(entry.tags.len().min(u16::MAX as usize) as u16).to_le_bytes());
    for t in entry.tags.iter().take(u16::MAX as usize) {
        let t = &t.as_bytes()[..t.len().min(u16::MAX as usize)];
        out.extend_from_slice(&(t.len() as u16).to_le_bytes());
        out.extend_from_slice(t);
    }
    out.extend_from_slice(value);
    out
}

/// Parses a stored frame; anything malformed is [`TierError::Corrupt`], never a panic.
pub(super) fn decode_frame(frame: Bytes) -> Result<Entry, TierError> {
    let corrupt = |m: &str| TierError::Corrupt(m.to_owned());
    let mut pos = 0usize;
    let take = |pos: &mut usize, n: usize| -> Result<std::ops::Range<usize>, TierError> {
        let end = pos
            .checked_add(n)
            .filter(|&e| e <= frame.len())
            .ok_or_else(|| corrupt("truncated frame"))?;
        let r = *pos..end;
        *pos = end;
        Ok(r)
    };
    let v = take(&mut pos, 1)?;
    let version = frame[v.start];
    if version != 1 && version != FRAME_VERSION {
        return Err(TierError::Corrupt(format!(
            "frame version {version} is neither 1 nor {FRAME_VERSION}"
        )));
    }
    let r = take(&mut pos, 8)?;
    let expires_at = u64::from_le_bytes(frame[r].try_into().map_err(|_| corrupt("bad expiry"))?);
    let created_at = if version == 1 {
        0
    } else {
        let r = take(&mut pos, 8)?;
        u64::from_le_bytes(
            frame[r]
                .try_into()
                .map_err(|_| corrupt("bad creation time"))?,
        )
    };
    let r = take(&mut pos, 2)?;
    let n = u16::from_le_bytes(frame[r].try_into().map_err(|_| corrupt("bad tag count"))?) as usize;
    let mut tags = Vec::with_capacity(n.min(64));
    for _ in 0..n {
        let r = take(&mut pos, 2)?;
        let len = u16::from_le_bytes(frame[r].try_into().map_err(|_| corrupt("bad tag length"))?)
            as usize;
        let r = take(&mut pos, len)?;
        let tag = std::str::from_utf8(&frame[r]).map_err(|_| corrupt("tag is not UTF-8"))?;
        tags.push(tag.to_owned());
    }
    let value = frame.slice(pos..);
    Ok(Entry {
        size: value.len(),
        value: Value::Bytes(value),
        expires_at,
        created_at,
        tags: tags.into(),
    })
}

pub(super) fn entry_bytes(entry: &Entry) -> Result<&Bytes, TierError> {
    match &entry.value {
        Value::Bytes(b) => Ok(b),
        Value::Object(_) => Err(TierError::Corrupt(
            "a remote tier can only store encoded bytes".into(),
        )),
    }
}

/// The `SET` of an entry, its expiry capped by the tier's `max_ttl`.
pub(super) fn set_command(s: &Settings, key: &str, entry: &Entry) -> Result<Cmd, TierError> {
    // The limit applies to the value (as every tier's does), so the cache's up-front size check
    // and this one agree and a write is never refused half-way.
    if entry.size > s.max_entry_bytes {
        return Err(TierError::TooLarge {
            size: entry.size,
            limit: s.max_entry_bytes,
        });
    }
    let frame = encode_frame(entry, entry_bytes(entry)?);
    let at = crate::expiry::capped(entry.expires_at, now_millis(), s.max_ttl());
    let mut set = redis::cmd("SET");
    set.arg(s.data_key(key)).arg(frame).arg("PXAT").arg(at);
    Ok(set)
}

/// Parses tag marks read back; a mark that is not a number is corrupt and read as "now" (every
/// entry of the tag written so far is stale) rather than lost.
pub(super) fn parse_marks(values: Vec<Option<String>>) -> Vec<u64> {
    values
        .into_iter()
        .map(|v| match v {
            None => 0,
            Some(s) => s.trim().parse().unwrap_or_else(|_| {
                tracing::warn!(mark = %s, "corrupt tag mark read as now");
                crate::expiry::now_micros()
            }),
        })
        .collect()
}

pub(super) fn parse_get(v: Option<Vec<u8>>) -> Result<Option<Entry>, TierError> {
    let Some(bytes) = v else { return Ok(None) };
    let entry = decode_frame(Bytes::from(bytes))?;
    if entry.expires_at <= now_millis() {
        return Ok(None);
    }
    Ok(Some(entry))
}

/// The single-key operations: the same commands on a node and on a cluster (whose connection
/// routes each to its key's slot).
impl Settings {
    pub(super) async fn get<C: ConnectionLike>(
        &self,
        mut conn: C,
        key: &str,
    ) -> Result<Option<Entry>, TierError> {
        let v: Option<Vec<u8>> = redis::cmd("GET")
            .arg(self.data_key(key))
            .query_async(&mut conn)
            .await?;
        parse_get(v)
    }

    pub(super) async fn set<C: ConnectionLike>(
        &self,
        mut conn: C,
        key: &str,
        entry: &Entry,
    ) -> Result<(), TierError> {
        set_command(self, key, entry)?
            .query_async::<()>(&mut conn)
            .await?;
        Ok(())
    }

    pub(super) async fn delete<C: ConnectionLike>(
        &self,
        mut conn: C,
        key: &str,
    ) -> Result<bool, TierError> {
        let n: u64 = redis::cmd("DEL")
            .arg(self.data_key(key))
            .query_async(&mut conn)
            .await?;
        Ok(n > 0)
    }

    pub(super) async fn try_lock<C: ConnectionLike>(
        &self,
        mut conn: C,
        key: &str,
        token: &str,
        ttl: Duration,
    ) -> Result<Option<bool>, TierError> {
        let r: Option<String> = self
            .lock_cmd(key, token, ttl)
            .query_async(&mut conn)
            .await?;
        Ok(Some(r.is_some()))
    }

    pub(super) async fn unlock<C: ConnectionLike>(
        &self,
        mut conn: C,
        key: &str,
        token: &str,
    ) -> Result<(), TierError> {
        self.unlock_cmd(key, token)
            .query_async::<i64>(&mut conn)
            .await?;
        Ok(())
    }

    /// One key, one slot: on a cluster the connection routes the pipeline there.
    pub(super) async fn publish_hot<C: ConnectionLike>(
        &self,
        mut conn: C,
        keys: &[(String, u64)],
    ) -> Result<(), TierError> {
        if keys.is_empty() {
            return Ok(());
        }
        self.hot_pipeline(keys).query_async::<()>(&mut conn).await?;
        Ok(())
    }

    pub(super) async fn hot_keys<C: ConnectionLike>(
        &self,
        mut conn: C,
        n: usize,
    ) -> Result<Vec<String>, TierError> {
        Ok(self.hot_read_cmd(n).query_async(&mut conn).await?)
    }
}
