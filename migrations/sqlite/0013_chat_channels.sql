-- Chat channels: group-chat robots (DingTalk, WeCom, Feishu/Lark) and signed outgoing webhooks
-- that receive the notifications email already carries. The webhook URL and the signing secret
-- are credentials: stored sealed (XChaCha20-Poly1305 with the configured secret key), never in
-- clear; `url_hint` is what admins see of the URL.
CREATE TABLE chat_channels (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    name              TEXT NOT NULL,
    kind              TEXT NOT NULL CHECK (kind IN ('dingtalk', 'wecom', 'feishu', 'webhook')),
    -- The language its messages are written in.
    language          TEXT NOT NULL CHECK (language IN ('en', 'zh-CN')),
    -- JSON array of the events it receives (see `chat::ChatEvent`).
    events            TEXT NOT NULL,
    -- JSON array of the severities it receives; empty: all.
    severities        TEXT NOT NULL DEFAULT '[]',
    url_sealed        TEXT NOT NULL,
    secret_sealed     TEXT,
    url_hint          TEXT NOT NULL,
    enabled           INTEGER NOT NULL DEFAULT 1,
    created_by        INTEGER REFERENCES users (id),
    created_at        TEXT NOT NULL,
    updated_at        TEXT NOT NULL,
    -- Removed channels stay for the outbox history; their name may be reused.
    removed_at        TEXT,
    -- The platform's rate limit, shared by every instance: messages sent in the minute that
    -- started at `window_started_at`.
    window_started_at TEXT,
    window_sent       INTEGER NOT NULL DEFAULT 0,
    -- One sender at a time works a channel, so its messages leave in order.
    lease_until       TEXT,
    lease_token       TEXT,
    -- The last delivery's outcome and the remote answer, for the channels page.
    last_outcome      TEXT NOT NULL DEFAULT '',
    last_answer       TEXT NOT NULL DEFAULT '',
    last_attempt_at   TEXT
) STRICT;
CREATE UNIQUE INDEX chat_channels_name ON chat_channels (name) WHERE removed_at IS NULL;

-- One outbox, several transports: a chat message is a row with transport 'chat', its channel and
-- the platform-neutral message (JSON), rendered and signed when it is sent.
ALTER TABLE outbox ADD COLUMN transport TEXT NOT NULL DEFAULT 'email' CHECK (transport IN ('email', 'chat'));
ALTER TABLE outbox ADD COLUMN channel_id INTEGER REFERENCES chat_channels (id);
ALTER TABLE outbox ADD COLUMN payload TEXT;
-- Set on a message that went out inside a digest: the row that carried the digest.
ALTER TABLE outbox ADD COLUMN digest_of INTEGER;
CREATE INDEX outbox_chat_pending ON outbox (channel_id, id) WHERE transport = 'chat' AND status IN ('queued', 'sending');

-- Chat identities, for @-mentions: a mobile number (DingTalk, WeCom), a WeCom user id and a
-- Feishu/Lark open_id. Empty: not known.
ALTER TABLE users ADD COLUMN chat_mobile TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN wecom_userid TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN feishu_open_id TEXT NOT NULL DEFAULT '';
