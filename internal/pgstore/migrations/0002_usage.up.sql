-- Usage counters for rate limits and budgets, per subject (an API key or a
-- tenant), counter and fixed window, shared by every replica.
CREATE TABLE usage_counters (
    subject       text NOT NULL,
    counter       text NOT NULL,
    window_start  timestamptz NOT NULL,
    used          bigint NOT NULL CHECK (used >= 0),
    PRIMARY KEY (subject, counter, window_start)
);
