package client

import "context"

// TargetURL is the URL Download fetches target t from: TargetsURL, then
// t's path, hash-prefixed when the trusted root enables consistent
// snapshots. Files published beside a payload (a transparency proof,
// "<payload URL>.tlog-proof") are named after it.
func (c *Client) TargetURL(t *Target) string {
	c.mu.Lock()
	consistent := c.trusted != nil && c.trusted.root.signed.ConsistentSnapshot
	c.mu.Unlock()
	return joinURL(c.cfg.TargetsURL, targetName(t, consistent))
}

// MetadataFileURL is the URL of name (a slash-separated path such as
// "tlog/checkpoint") under MetadataURL, the root of the published tree.
func (c *Client) MetadataFileURL(name string) string {
	return joinURL(c.cfg.MetadataURL, escapePath(name))
}

// Fetch downloads url, which no TUF metadata describes (a transparency
// checkpoint or proof that the caller verifies itself), with the bounds
// and retries of the Network: more than max bytes is a *LengthError,
// network failures are *FetchError.
func (c *Client) Fetch(ctx context.Context, url string, max int64) ([]byte, error) {
	return c.fetch(ctx, url, url, max)
}
