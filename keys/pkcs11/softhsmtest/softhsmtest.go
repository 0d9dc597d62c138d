//go:build cgo

// Package softhsmtest runs SoftHSM2 (Debian's softhsm2 package) for the
// tests of bsi's PKCS#11 keys: a configuration and token directory of the
// test's own, tokens initialised with softhsm2-util, and helpers that put
// keys bsi must refuse (ECDSA P-384, small RSA, AES secret keys) on them.
//
// A PKCS#11 module is initialised once per process and reads SOFTHSM2_CONF
// then: a test binary uses one HSM, set up in TestMain (Start) or in one
// top-level test (New).
package softhsmtest

import (
	"crypto/elliptic"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/ThalesGroup/crypto11"
)

// Module is the SoftHSM2 module of Debian's softhsm2 package.
const Module = "/usr/lib/softhsm/libsofthsm2.so"

// SOPin is the security officer PIN of every token made here.
const SOPin = "87654321"

// HSM is a SoftHSM2 configuration with its own token directory.
type HSM struct {
	Dir    string // holds softhsm2.conf and tokens/
	Conf   string // the configuration file, also in SOFTHSM2_CONF
	Module string
}

// Available reports why SoftHSM2 cannot be used here (nil when it can).
func Available() error {
	if _, err := exec.LookPath("softhsm2-util"); err != nil {
		return fmt.Errorf("softhsm2-util not found (install Debian's softhsm2 package, see .ci/deps): %w", err)
	}
	if _, err := os.Stat(Module); err != nil {
		return fmt.Errorf("softhsm2 module: %w", err)
	}
	return nil
}

// Start writes a configuration in dir and sets SOFTHSM2_CONF for the
// process (the module reads it when first initialised).
func Start(dir string) (*HSM, error) {
	if err := Available(); err != nil {
		return nil, err
	}
	h := &HSM{Dir: dir, Conf: filepath.Join(dir, "softhsm2.conf"), Module: Module}
	tokens := filepath.Join(dir, "tokens")
	if err := os.MkdirAll(tokens, 0o700); err != nil {
		return nil, err
	}
	conf := "directories.tokendir = " + tokens + "\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n"
	if err := os.WriteFile(h.Conf, []byte(conf), 0o600); err != nil {
		return nil, err
	}
	if err := os.Setenv("SOFTHSM2_CONF", h.Conf); err != nil {
		return nil, err
	}
	return h, nil
}

// New is Start in a temporary directory of t. When SoftHSM2 is missing
// the test is skipped with a message naming softhsm2, or fails when CI is
// "true".
func New(t testing.TB) *HSM {
	t.Helper()
	Require(t)
	t.Setenv("SOFTHSM2_CONF", "") // restored after the test
	h, err := Start(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// Require skips t (fails it when CI is "true") when SoftHSM2 is missing.
func Require(t testing.TB) {
	t.Helper()
	if err := Available(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("softhsm2 is required in CI: %v", err)
		}
		t.Skipf("softhsm2 is not installed: %v", err)
	}
}

// InitToken initialises a new token labelled label with user PIN pin.
func (h *HSM) InitToken(label, pin string) error {
	cmd := exec.Command("softhsm2-util", "--init-token", "--free", "--label", label, "--pin", pin, "--so-pin", SOPin)
	cmd.Env = append(os.Environ(), "SOFTHSM2_CONF="+h.Conf)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("softhsm2-util --init-token %s: %w\n%s", label, err, out)
	}
	return nil
}

// URI returns the PKCS#11 URI of object on token, through this module.
func (h *HSM) URI(token, object string) string {
	return "pkcs11:token=" + token + ";object=" + object + "?module-path=" + h.Module
}

// with runs f with a crypto11 context logged in to token.
func (h *HSM) with(token, pin string, f func(*crypto11.Context) error) error {
	c, err := crypto11.Configure(&crypto11.Config{Path: h.Module, TokenLabel: token, Pin: pin})
	if err != nil {
		return err
	}
	return errors.Join(f(c), c.Close())
}

// PutECDSA generates an ECDSA key pair on curve, labelled label.
func (h *HSM) PutECDSA(token, pin, label string, id []byte, curve elliptic.Curve) error {
	return h.with(token, pin, func(c *crypto11.Context) error {
		_, err := c.GenerateECDSAKeyPairWithLabel(id, []byte(label), curve)
		return err
	})
}

// PutRSA generates an RSA key pair of bits bits, labelled label.
func (h *HSM) PutRSA(token, pin, label string, id []byte, bits int) error {
	return h.with(token, pin, func(c *crypto11.Context) error {
		_, err := c.GenerateRSAKeyPairWithLabel(id, []byte(label), bits)
		return err
	})
}

// PutAES generates an AES-256 secret key labelled label.
func (h *HSM) PutAES(token, pin, label string, id []byte) error {
	return h.with(token, pin, func(c *crypto11.Context) error {
		_, err := c.GenerateSecretKeyWithLabel(id, []byte(label), 256, crypto11.CipherAES)
		return err
	})
}
