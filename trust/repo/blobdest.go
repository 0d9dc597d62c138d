package repo

import (
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

// checkBlobParams refuses an object-store URL that lacks a parameter its
// driver needs and cannot find elsewhere: azblob:// needs a storage account
// (?storage_account=NAME, AZURE_STORAGE_ACCOUNT, or a connection string).
// S3's region is checked once the bucket is opened (the SDK knows where to
// look). gs:// needs no parameter: credentials come from the environment.
func checkBlobParams(dest string, getenv func(string) string) error {
	if !strings.HasPrefix(dest, "azblob://") {
		return nil
	}
	if blobHasParam(dest, "storage_account") || getenv("AZURE_STORAGE_ACCOUNT") != "" ||
		getenv("AZURE_STORAGE_CONNECTION_STRING") != "" || getenv("AZURE_STORAGEBLOB_CONNECTIONSTRING") != "" {
		return nil
	}
	return &MissingParameterError{URL: dest, Param: "storage_account",
		Hint: "add ?storage_account=NAME (or set AZURE_STORAGE_ACCOUNT, or AZURE_STORAGE_CONNECTION_STRING)"}
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
