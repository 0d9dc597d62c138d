// Package serve serves a published bsi repository over HTTP.
//
// A published tree is static: versioned metadata (N.root.json,
// N.snapshot.json, N.webkit.json), one unversioned timestamp.json, and
// payloads under targets/ named by their hash. The handler serves exactly
// those files and nothing else:
//
//   - GET and HEAD only; no directory listings; dot-files are not served.
//   - Paths are confined to the tree with an [os.Root]: ".." segments,
//     absolute paths and symbolic links that leave the tree are refused.
//   - Caching follows what can change. timestamp.json and every other
//     unversioned name (root.json, a plain targets.json) get
//     "Cache-Control: no-cache", so a CDN revalidates them on every request
//     and a client never sees a stale timestamp from a cache. Versioned
//     metadata (a name starting "N.") and hashed payloads
//     (targets/.../HASH.NAME) never change once published and get
//     "Cache-Control: public, max-age=31536000, immutable".
//   - Every file has a strong ETag (the SHA-256 of its content), and
//     If-None-Match is answered with 304 Not Modified.
//   - Metadata is served as application/json, archives as application/gzip
//     or application/x-tar, everything with X-Content-Type-Options: nosniff.
//
// The server sets read-header, read, write and idle timeouts so that slow
// clients cannot hold connections forever, logs every request with
// log/slog, answers /healthz, and shuts down gracefully when its context is
// cancelled.
//
// # Example
//
//	err := serve.ListenAndServe(ctx, serve.Options{
//		Dir:    "repo/public",
//		Addr:   "127.0.0.1:8080",
//		Logger: logger,
//	})
package serve
