package repo

import (
	"cmp"
	"context"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"gocloud.dev/blob"
	"gocloud.dev/gcerrors"
	"gocloud.dev/gcp"

	// Object stores a repository can be published to.
	_ "gocloud.dev/blob/azureblob"
	_ "gocloud.dev/blob/fileblob"
	_ "gocloud.dev/blob/gcsblob"
	_ "gocloud.dev/blob/memblob"
	_ "gocloud.dev/blob/s3blob"

	"github.com/bsiframework/bsi/internal/fault"
	"github.com/bsiframework/bsi/serve"
)

// blobSchemes are the destination URL schemes compiled in.
var blobSchemes = []string{"s3://", "gs://", "azblob://", "file://", "mem://"}

// openBlob opens a gocloud.dev bucket URL. A file:// URL without a query
// is a directory destination (DirDestination), so that the directory holds
// exactly the published tree (no .attrs side files), can be served as it
// is, and is written through an os.Root. A file:// URL must name an
// absolute path: file://relative/path is refused.
func openBlob(ctx context.Context, dest string) (Destination, func() error, error) {
	known := false
	for _, s := range blobSchemes {
		known = known || strings.HasPrefix(dest, s)
	}
	if !known {
		return nil, nil, &DestinationError{Dest: dest, Err: fmt.Errorf("unsupported URL scheme; use a directory path or one of %s", strings.Join(blobSchemes, ", "))}
	}
	open := dest
	if u, err := url.Parse(dest); err == nil && u.Scheme == "file" {
		if u.Host != "" && u.Host != "localhost" {
			// file://relative/path parses as host "relative", path
			// "/path": the tree would land at /path.
			return nil, nil, &DestinationError{Dest: dest, Err: fmt.Errorf("a file:// URL needs an absolute path (file:///abs/path; %q would be read as host %q and path %q); or give the directory path itself", dest, u.Host, u.Path)}
		}
		if u.RawQuery == "" {
			// A plain file:// URL is a directory destination: the same
			// tree (no .attrs side files), written through an os.Root.
			d, err := DirDestination(filepath.FromSlash(u.Path))
			if err != nil {
				return nil, nil, &DestinationError{Dest: dest, Err: err}
			}
			dd := d.(*dirDest)
			dd.name = dest
			return dd, dd.Close, nil
		}
		// Like a directory destination, a file:// bucket is created.
		if err := os.MkdirAll(u.Path, 0o755); err != nil {
			return nil, nil, &DestinationError{Dest: dest, Err: err}
		}
	}
	if err := checkBlobParams(dest, os.Getenv); err != nil {
		return nil, nil, &DestinationError{Dest: dest, Err: err}
	}
	if err := checkGCSCredentials(ctx, dest, os.Getenv); err != nil {
		return nil, nil, &DestinationError{Dest: dest, Err: err}
	}
	b, err := blob.OpenBucket(ctx, open)
	if err != nil {
		return nil, nil, &DestinationError{Dest: dest, Err: err}
	}
	// The AWS SDK settles the region from the URL, the environment and the
	// shared config files when the bucket is opened, without a request;
	// without one, the first request would fail with the SDK's "endpoint
	// rule error, Invalid region".
	var s3c *s3.Client
	if b.As(&s3c) && s3c.Options().Region == "" && !blobHasParam(dest, "endpoint") {
		b.Close()
		return nil, nil, &DestinationError{Dest: dest, Err: &MissingParameterError{URL: dest, Param: "region",
			Hint: "add ?region=eu-west-1 (or set AWS_REGION, or a region in the AWS profile); for an S3-compatible server give ?endpoint=https://HOST:PORT&region=R"}}
	}
	return BucketDestination(b, dest), b.Close, nil
}

// MissingParameterError is an object-store URL without a parameter the
// store needs, found before any request (and before anything is signed).
type MissingParameterError struct {
	URL   string // the destination URL as given
	Param string // the query parameter that is missing
	Hint  string // how to give it
}

func (e *MissingParameterError) Error() string {
	return fmt.Sprintf("%s has no %s: %s", e.URL, e.Param, e.Hint)
}

// BadParameterError is an object-store URL parameter with a value the
// store cannot use, found before any request.
type BadParameterError struct {
	URL   string // the destination URL as given
	Param string // the query parameter
	Value string // its value
	Hint  string // what to give instead
}

func (e *BadParameterError) Error() string {
	return fmt.Sprintf("%s: %s=%s: %s", e.URL, e.Param, e.Value, e.Hint)
}

// checkBlobParams refuses an object-store URL that lacks a parameter its
// driver needs and cannot find elsewhere, or gives one it cannot use:
//
//   - azblob:// needs a storage account (?storage_account=NAME,
//     AZURE_STORAGE_ACCOUNT, or a connection string); with localemu=true
//     (Azurite) a loopback domain=HOST:PORT and protocol=http.
//   - s3:// parameters for an S3-compatible server (use_path_style,
//     disable_https) need its endpoint, and an endpoint needs a scheme.
//     S3's region is checked once the bucket is opened (the SDK knows
//     where to look).
//
// gs:// credentials are checked by checkGCSCredentials.
func checkBlobParams(dest string, getenv func(string) string) error {
	u, err := url.Parse(dest)
	if err != nil {
		return nil // the driver says what is wrong with it
	}
	q := u.Query()
	switch u.Scheme {
	case "azblob":
		if q.Get("storage_account") == "" && getenv("AZURE_STORAGE_ACCOUNT") == "" &&
			getenv("AZURE_STORAGE_CONNECTION_STRING") == "" && getenv("AZURE_STORAGEBLOB_CONNECTIONSTRING") == "" {
			return &MissingParameterError{URL: dest, Param: "storage_account",
				Hint: "add ?storage_account=NAME (or set AZURE_STORAGE_ACCOUNT, or AZURE_STORAGE_CONNECTION_STRING)"}
		}
		emu := q.Get("localemu")
		if emu == "" {
			emu = getenv("AZURE_STORAGE_IS_LOCAL_EMULATOR")
		}
		if emu != "true" {
			return nil
		}
		if q.Get("domain") == "" && getenv("AZURE_STORAGE_DOMAIN") == "" {
			return &MissingParameterError{URL: dest, Param: "domain",
				Hint: "a local emulator needs its address: add &domain=127.0.0.1:10000&protocol=http (Azurite's default)"}
		}
		if p := cmp.Or(q.Get("protocol"), getenv("AZURE_STORAGE_PROTOCOL")); p != "http" {
			return &MissingParameterError{URL: dest, Param: "protocol",
				Hint: "a local emulator speaks plain HTTP: add &protocol=http"}
		}
	case "s3":
		ep := q.Get("endpoint")
		if ep == "" {
			for _, p := range []string{"use_path_style", "disable_https", "hostname_immutable"} {
				if q.Has(p) {
					return &MissingParameterError{URL: dest, Param: "endpoint",
						Hint: p + " is for an S3-compatible server: add &endpoint=http://HOST:PORT (its address)"}
				}
			}
			return nil
		}
		if e, err := url.Parse(ep); err != nil || (e.Scheme != "http" && e.Scheme != "https") || e.Host == "" {
			return &BadParameterError{URL: dest, Param: "endpoint", Value: ep,
				Hint: "the endpoint is a URL with a scheme: endpoint=https://HOST:PORT (or http:// with disable_https=true)"}
		}
	}
	return nil
}

// checkGCSCredentials refuses a gs:// URL when no Google credentials can
// be found (GOOGLE_APPLICATION_CREDENTIALS, gcloud's application default
// credentials, a GCP instance's service account) and no emulator is set
// (STORAGE_EMULATOR_HOST): the driver would otherwise print a warning on
// stdout and fail at the first request with an unrelated-looking error.
func checkGCSCredentials(ctx context.Context, dest string, getenv func(string) string) error {
	if !strings.HasPrefix(dest, "gs://") || getenv("STORAGE_EMULATOR_HOST") != "" || getenv("STORAGE_EMULATOR_HOST_GRPC") != "" {
		return nil
	}
	if _, err := gcp.DefaultCredentials(ctx); err != nil {
		return &MissingParameterError{URL: dest, Param: "credentials",
			Hint: "set GOOGLE_APPLICATION_CREDENTIALS=KEY.json or run gcloud auth application-default login (on GCP the instance's service account is used); for an emulator set STORAGE_EMULATOR_HOST=HOST:PORT"}
	}
	return nil
}

// blobHasParam reports whether the URL's query sets param to a non-empty
// value.
func blobHasParam(dest, param string) bool {
	u, err := url.Parse(dest)
	return err == nil && u.Query().Get(param) != ""
}

// BucketDestination publishes into a gocloud.dev bucket (S3, GCS, Azure
// Blob, a local directory, memory). Objects are written whole, so readers
// never see a part of one; each carries the Content-Type and Cache-Control
// that "bsi serve" would send, so a CDN in front of the bucket caches
// timestamp.json for no time and versioned files for ever.
func BucketDestination(b *blob.Bucket, name string) Destination {
	return &bucketDest{b: b, name: name}
}

type bucketDest struct {
	b    *blob.Bucket
	name string
}

func (d *bucketDest) String() string { return d.name }

func (d *bucketDest) ReadFile(ctx context.Context, name string) ([]byte, error) {
	data, err := d.b.ReadAll(ctx, name)
	if gcerrors.Code(err) == gcerrors.NotFound {
		return nil, fmt.Errorf("%s: %w", name, fs.ErrNotExist)
	}
	return data, err
}

func (d *bucketDest) Exists(ctx context.Context, name string) (bool, error) {
	return d.b.Exists(ctx, name)
}

var _ sizer = (*bucketDest)(nil)

// Size returns the length of the object name from its attributes (one
// request, as Exists is).
func (d *bucketDest) Size(ctx context.Context, name string) (int64, error) {
	a, err := d.b.Attributes(ctx, name)
	if gcerrors.Code(err) == gcerrors.NotFound {
		return 0, fmt.Errorf("%s: %w", name, fs.ErrNotExist)
	}
	if err != nil {
		return 0, err
	}
	return a.Size, nil
}

func (d *bucketDest) WriteFile(ctx context.Context, name string, data []byte) error {
	if err := fault.CheckPath("repo.bucket.write", name); err != nil {
		return err
	}
	defer fault.Point("repo.bucket.write.done")
	return d.b.WriteAll(ctx, name, data, &blob.WriterOptions{
		ContentType:  serve.ContentType(name),
		CacheControl: serve.CacheControl(name),
	})
}
