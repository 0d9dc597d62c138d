package loadgen

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Weights are the shares of each group of requests in a fleet mix.
type Weights struct {
	Timestamp int // conditional GET of timestamp.json
	Snapshot  int // the current N.snapshot.json
	Roles     int // the current N.ROLE.json of targets and delegated roles
	Payloads  int // hashed payloads under targets/
}

// FleetWeights is what a fleet of devices mostly does: poll the timestamp.
var FleetWeights = Weights{Timestamp: 80, Snapshot: 5, Roles: 10, Payloads: 5}

// Kinds of request in a discovered mix.
const (
	KindTimestamp304 = "timestamp-304" // conditional, answered 304
	KindTimestamp    = "timestamp"     // the server sent no ETag: plain GET
	KindSnapshot     = "snapshot"
	KindRole         = "role"
	KindPayload      = "payload"
)

// MaxPayloads caps the payloads of a discovered mix (the first by path).
const MaxPayloads = 1000

// maxMetadata caps each metadata file read by Discover.
const maxMetadata = 64 << 20

// DiscoverError is a tree that Discover could not read.
type DiscoverError struct {
	URL string // the file
	Err error
}

func (e *DiscoverError) Error() string { return "loadgen: discover " + e.URL + ": " + e.Err.Error() }
func (e *DiscoverError) Unwrap() error { return e.Err }

// Discover builds the fleet mix of the published tree at base by reading
// it over HTTP (see the package doc). client nil means a client with a 30 s
// timeout. Metadata is parsed, not verified: the mix is only a list of
// files and the answers they must get. It returns a *DiscoverError when a
// file is missing, unreadable or not the expected JSON.
func Discover(ctx context.Context, client *http.Client, base string, w Weights) ([]Request, error) {
	if client == nil {
		client = &http.Client{Timeout: 30 * time.Second}
	}
	u, err := url.Parse(base)
	if err != nil {
		return nil, &DiscoverError{URL: base, Err: err}
	}
	get := func(name string) ([]byte, http.Header, error) { return fetch(ctx, client, u.JoinPath(name).String()) }

	tsBody, tsHdr, err := get("timestamp.json")
	if err != nil {
		return nil, err
	}
	var ts struct {
		Signed struct {
			Meta map[string]struct{ Version int64 } `json:"meta"`
		} `json:"signed"`
	}
	if err := decode(u, "timestamp.json", tsBody, &ts); err != nil {
		return nil, err
	}
	snapMeta, ok := ts.Signed.Meta["snapshot.json"]
	if !ok || snapMeta.Version < 1 {
		return nil, &DiscoverError{URL: u.JoinPath("timestamp.json").String(), Err: fmt.Errorf("no snapshot version")}
	}
	var mix []Request
	if etag := tsHdr.Get("ETag"); etag != "" {
		mix = append(mix, Request{Kind: KindTimestamp304, Path: "timestamp.json", Status: http.StatusNotModified,
			Header: http.Header{"If-None-Match": {etag}}, Weight: 1000 * w.Timestamp})
	} else {
		mix = append(mix, Request{Kind: KindTimestamp, Path: "timestamp.json", Status: http.StatusOK,
			Length: int64(len(tsBody)), Weight: 1000 * w.Timestamp})
	}

	snapName := strconv.FormatInt(snapMeta.Version, 10) + ".snapshot.json"
	snapBody, _, err := get(snapName)
	if err != nil {
		return nil, err
	}
	var snap struct {
		Signed struct {
			Meta map[string]struct{ Version int64 } `json:"meta"`
		} `json:"signed"`
	}
	if err := decode(u, snapName, snapBody, &snap); err != nil {
		return nil, err
	}
	mix = append(mix, Request{Kind: KindSnapshot, Path: snapName, Status: http.StatusOK,
		Length: int64(len(snapBody)), Weight: 1000 * w.Snapshot})

	roles, payloads, err := discoverRoles(u, get, snap.Signed.Meta)
	if err != nil {
		return nil, err
	}
	mix = append(mix, spread(roles, w.Roles)...)
	mix = append(mix, spread(payloads, w.Payloads)...)
	return slices.DeleteFunc(mix, func(r Request) bool { return r.Weight < 1 }), nil
}

type getFunc func(name string) ([]byte, http.Header, error)

// discoverRoles reads the current version of every role in the snapshot
// and returns them and the payloads they list.
func discoverRoles(u *url.URL, get getFunc, meta map[string]struct{ Version int64 }) (roles, payloads []Request, err error) {
	seen := map[string]bool{}
	for _, name := range slices.Sorted(maps.Keys(meta)) {
		file := strconv.FormatInt(meta[name].Version, 10) + "." + name
		body, _, err := get(file)
		if err != nil {
			return nil, nil, err
		}
		var role struct {
			Signed struct {
				Targets map[string]struct {
					Length int64             `json:"length"`
					Hashes map[string]string `json:"hashes"`
				} `json:"targets"`
			} `json:"signed"`
		}
		if err := decode(u, file, body, &role); err != nil {
			return nil, nil, err
		}
		roles = append(roles, Request{Kind: KindRole, Path: file, Status: http.StatusOK, Length: int64(len(body))})
		for _, target := range slices.Sorted(maps.Keys(role.Signed.Targets)) {
			t := role.Signed.Targets[target]
			h := t.Hashes["sha256"]
			if h == "" || seen[target] {
				continue
			}
			seen[target] = true
			dir, file := path.Split(target)
			payloads = append(payloads, Request{Kind: KindPayload, Path: "targets/" + dir + h + "." + file,
				Status: http.StatusOK, Length: t.Length})
		}
	}
	slices.SortFunc(payloads, func(a, b Request) int { return strings.Compare(a.Path, b.Path) })
	if len(payloads) > MaxPayloads {
		payloads = payloads[:MaxPayloads]
	}
	return roles, payloads, nil
}

// spread shares weight among rs evenly (1000 per unit of weight).
func spread(rs []Request, weight int) []Request {
	for i := range rs {
		rs[i].Weight = max(1000*weight/len(rs), 1)
		if weight == 0 {
			rs[i].Weight = 0
		}
	}
	return rs
}

func fetch(ctx context.Context, client *http.Client, u string) ([]byte, http.Header, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, nil, &DiscoverError{URL: u, Err: err}
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, nil, &DiscoverError{URL: u, Err: err}
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, nil, &DiscoverError{URL: u, Err: fmt.Errorf("status %s", resp.Status)}
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxMetadata+1))
	if err != nil {
		return nil, nil, &DiscoverError{URL: u, Err: err}
	}
	if len(body) > maxMetadata {
		return nil, nil, &DiscoverError{URL: u, Err: fmt.Errorf("larger than %d bytes", maxMetadata)}
	}
	return body, resp.Header, nil
}

func decode(u *url.URL, name string, body []byte, v any) error {
	if err := json.Unmarshal(body, v); err != nil {
		return &DiscoverError{URL: u.JoinPath(name).String(), Err: err}
	}
	return nil
}
