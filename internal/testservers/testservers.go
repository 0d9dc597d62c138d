// Package testservers starts the object-store emulators the tests publish
// to and read from: Azurite for azblob://, fake-gcs-server for gs:// and
// s3fake (gofakes3) for s3://. Each runs as a process of its own, on a
// loopback address with a free port and its data in a temporary directory,
// and is stopped when the test ends.
//
// # Where the emulators come from
//
// .ci/deps installs them into one directory (Dir):
//
//	DIR/azurite/node_modules/.bin/azurite-blob   npm azurite@3.35.0
//	DIR/bin/fake-gcs-server                      github.com/fsouza/fake-gcs-server v1.56.1
//
// s3fake is built from this module (internal/testservers/s3fake) by the
// first test that needs it. When an emulator is missing the test is skipped
// with a message naming it, except under CI=true, where it fails.
//
// # What a Store gives a test
//
// URL is the bucket URL bsi is given (--to, --published), with Env the
// environment its driver needs (credentials, emulator host). HTTPBase is
// where a device reads the same objects anonymously, over plain HTTP, from
// the emulator's own endpoint: the container or bucket is publicly readable.
// Secrets are the credential values that must never appear in any output.
package testservers

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// Dir is where .ci/deps installs the emulators: $BSI_EMULATORS, else
// bsi-emulators in the user's cache directory.
func Dir() string {
	if d := os.Getenv("BSI_EMULATORS"); d != "" {
		return d
	}
	c, err := os.UserCacheDir()
	if err != nil {
		return filepath.Join(os.TempDir(), "bsi-emulators")
	}
	return filepath.Join(c, "bsi-emulators")
}

// Store is one running emulator holding one empty bucket.
type Store struct {
	Kind     string            // "azblob", "gs" or "s3"
	Bucket   string            // the bucket (container) name
	URL      string            // the bucket URL for bsi
	Env      map[string]string // environment the driver needs
	HTTPBase string            // anonymous HTTP base of the bucket's objects, no trailing slash
	Secrets  []string          // credentials that must never be printed
	// Host is the emulator's host:port; urlFor gives the bucket URL and
	// environment for another host:port (a proxy in front of it).
	Host   string
	urlFor func(host string) (string, map[string]string)
}

// Via returns the store as reached through host (a proxy in front of the
// emulator): URL and Env point at host, HTTPBase stays on the emulator.
func (s *Store) Via(host string) *Store {
	c := *s
	c.URL, c.Env = s.urlFor(host)
	return &c
}

// Setenv sets the store's environment for the test (see testing.T.Setenv).
func (s *Store) Setenv(t *testing.T) {
	t.Helper()
	for k, v := range s.Env {
		t.Setenv(k, v)
	}
}

// Kinds are the emulated stores, in the order tests run them.
var Kinds = []string{"azblob", "gs", "s3"}

// Start starts the emulator of kind with an empty bucket named bucket.
func Start(t *testing.T, kind, bucket string) *Store {
	t.Helper()
	switch kind {
	case "azblob":
		return Azurite(t, bucket)
	case "gs":
		return FakeGCS(t, bucket)
	case "s3":
		return S3(t, bucket)
	}
	t.Fatalf("testservers: unknown store kind %q", kind)
	return nil
}

// missing skips the test (fails it under CI=true) for an emulator that is
// not installed.
func missing(t *testing.T, name string, err error) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s required under CI=true: %v (run .ci/deps)", name, err)
	}
	t.Skipf("skipping: %s not installed: %v (run .ci/deps)", name, err)
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// randomSecret returns n random bytes, base64 (a credential to look for).
func randomSecret(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return base64.StdEncoding.EncodeToString(b)
}

// process runs an emulator until the test ends; its output is kept for
// the failure message.
type process struct {
	name string
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startProcess starts bin with args and env added to the test's
// environment; stdout, when given, receives the process's stdout.
func startProcess(t *testing.T, name, bin string, args, env []string, stdout io.Writer) *process {
	t.Helper()
	p := &process{name: name, out: &syncBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Dir = t.TempDir()
	p.cmd.Stderr = p.out
	p.cmd.Stdout = p.out
	if stdout != nil {
		p.cmd.Stdout = io.MultiWriter(p.out, stdout)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() { p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.done
	})
	return p
}

// waitTCP waits until host accepts connections, the process exits, or 60 s
// pass.
func (p *process) waitTCP(t *testing.T, host string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", host, time.Second)
		if err == nil {
			c.Close()
			return
		}
		select {
		case <-p.done:
			t.Fatalf("%s exited before listening on %s: %v\n%s", p.name, host, p.cmd.ProcessState, p.out)
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not listening on %s after 60s\n%s", p.name, host, p.out)
		}
	}
}

// Azurite starts Azurite's blob service with an account of its own (a
// random key, so that the key is a string no output may hold) and a
// container with anonymous read access to its blobs.
func Azurite(t *testing.T, container string) *Store {
	t.Helper()
	bin := filepath.Join(Dir(), "azurite", "node_modules", ".bin", "azurite-blob")
	if _, err := os.Stat(bin); err != nil {
		missing(t, "Azurite (npm azurite@3.35.0)", err)
	}
	if _, err := exec.LookPath("node"); err != nil {
		missing(t, "Azurite (node)", err)
	}
	account, key := "bsitest", randomSecret(64)
	host := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	_, port, _ := net.SplitHostPort(host)
	p := startProcess(t, "azurite", bin, []string{"--blobHost", "127.0.0.1", "--blobPort", port,
		"--location", t.TempDir(), "--silent", "--skipApiVersionCheck", "--loose", "--disableTelemetry"},
		[]string{"AZURITE_ACCOUNTS=" + account + ":" + key}, nil)
	p.waitTCP(t, host)
	if err := azureCreatePublicContainer(t.Context(), "http://"+host+"/"+account+"/", account, key, container); err != nil {
		t.Fatalf("azurite: create container %s: %v\n%s", container, err, p.out)
	}
	s := &Store{Kind: "azblob", Bucket: container, Host: host, Secrets: []string{key},
		HTTPBase: "http://" + host + "/" + account + "/" + container}
	s.urlFor = func(h string) (string, map[string]string) {
		return "azblob://" + container + "?localemu=true&protocol=http&domain=" + h,
			map[string]string{"AZURE_STORAGE_ACCOUNT": account, "AZURE_STORAGE_KEY": key}
	}
	s.URL, s.Env = s.urlFor(host)
	return s
}

// FakeGCS starts fake-gcs-server in memory with an empty bucket. Objects
// are read anonymously at http://HOST/BUCKET/NAME.
func FakeGCS(t *testing.T, bucket string) *Store {
	t.Helper()
	bin := filepath.Join(Dir(), "bin", "fake-gcs-server")
	if _, err := os.Stat(bin); err != nil {
		missing(t, "fake-gcs-server (github.com/fsouza/fake-gcs-server v1.56.1)", err)
	}
	host := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	_, port, _ := net.SplitHostPort(host)
	p := startProcess(t, "fake-gcs-server", bin, []string{"-scheme", "http", "-host", "127.0.0.1", "-port", port,
		"-backend", "memory", "-public-host", host, "-external-url", "http://" + host, "-log-level", "error"}, nil, nil)
	p.waitTCP(t, host)
	body := fmt.Sprintf(`{"name":%q}`, bucket)
	resp, err := http.Post("http://"+host+"/storage/v1/b?project=bsi-test", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatalf("fake-gcs-server: create bucket %s: %v", bucket, err)
	}
	msg, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		t.Fatalf("fake-gcs-server: create bucket %s: %s: %s", bucket, resp.Status, msg)
	}
	s := &Store{Kind: "gs", Bucket: bucket, Host: host, HTTPBase: "http://" + host + "/" + bucket}
	s.urlFor = func(h string) (string, map[string]string) {
		return "gs://" + bucket, map[string]string{"STORAGE_EMULATOR_HOST": h}
	}
	s.URL, s.Env = s.urlFor(host)
	return s
}

// S3 starts s3fake (gofakes3) with an empty bucket, built from this module
// into the test's temporary directory (the build cache makes that a link).
// Objects are read anonymously at http://HOST/BUCKET/KEY. The access key
// and secret are random.
func S3(t *testing.T, bucket string) *Store {
	t.Helper()
	s3fakeBin := filepath.Join(t.TempDir(), "s3fake")
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "go", "build", "-o", s3fakeBin, "github.com/bsiframework/bsi/internal/testservers/s3fake").CombinedOutput()
	if err != nil {
		t.Fatalf("go build s3fake: %v\n%s", err, out)
	}
	pr, pw := io.Pipe()
	p := startProcess(t, "s3fake", s3fakeBin, []string{"-addr", "127.0.0.1:0", "-bucket", bucket}, nil, pw)
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			if a, ok := strings.CutPrefix(sc.Text(), "listening on http://"); ok {
				addr <- a
				break
			}
		}
		io.Copy(io.Discard, pr)
	}()
	var host string
	select {
	case host = <-addr:
	case <-p.done:
		t.Fatalf("s3fake exited: %v\n%s", p.cmd.ProcessState, p.out)
	case <-time.After(60 * time.Second):
		t.Fatalf("s3fake did not start in 60s\n%s", p.out)
	}
	id := make([]byte, 10)
	rand.Read(id)
	accessKey, secret := "AKIA"+strings.ToUpper(hex.EncodeToString(id)), randomSecret(30)
	s := &Store{Kind: "s3", Bucket: bucket, Host: host, Secrets: []string{secret},
		HTTPBase: "http://" + host + "/" + bucket}
	s.urlFor = func(h string) (string, map[string]string) {
		return "s3://" + bucket + "?endpoint=http://" + h + "&use_path_style=true&disable_https=true&region=us-east-1",
			map[string]string{"AWS_ACCESS_KEY_ID": accessKey, "AWS_SECRET_ACCESS_KEY": secret,
				"AWS_CONFIG_FILE": os.DevNull, "AWS_SHARED_CREDENTIALS_FILE": os.DevNull, "AWS_EC2_METADATA_DISABLED": "true"}
	}
	s.URL, s.Env = s.urlFor(host)
	return s
}
