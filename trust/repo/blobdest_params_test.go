package repo

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

// noCloudEnv clears every environment variable and config file from which
// the AWS and Azure drivers could take a region or an account.
func noCloudEnv(t *testing.T) {
	t.Helper()
	none := filepath.Join(t.TempDir(), "none")
	for k, v := range map[string]string{
		"AWS_REGION": "", "AWS_DEFAULT_REGION": "", "AWS_PROFILE": "",
		"AWS_CONFIG_FILE": none, "AWS_SHARED_CREDENTIALS_FILE": none,
		"AWS_EC2_METADATA_DISABLED": "true",
		"AZURE_STORAGE_ACCOUNT":     "", "AZURE_STORAGE_CONNECTION_STRING": "", "AZURE_STORAGEBLOB_CONNECTIONSTRING": "",
		"AZURE_STORAGE_IS_LOCAL_EMULATOR": "", "AZURE_STORAGE_DOMAIN": "", "AZURE_STORAGE_PROTOCOL": "",
		"STORAGE_EMULATOR_HOST": "", "STORAGE_EMULATOR_HOST_GRPC": "",
		"GOOGLE_APPLICATION_CREDENTIALS": none, "CLOUDSDK_CONFIG": none, "GCE_METADATA_HOST": "",
	} {
		t.Setenv(k, v)
	}
}

// TestOpenDestinationMissingParameter: an object-store URL without the
// parameter its store needs is refused when opened, before any request,
// with an error that names the URL and the parameter and says how to give
// it (old code: s3:// opened and failed at the first request with the SDK's
// "endpoint rule error, Invalid region"; azblob:// said only
// "Options.AccountName is required").
func TestOpenDestinationMissingParameter(t *testing.T) {
	noCloudEnv(t)
	for _, tc := range []struct {
		dest, param, hint string
		ok                bool
	}{
		{"s3://bsi-repo", "region", "?region=eu-west-1", false},
		{"s3://bsi-repo?awssdk=v2", "region", "endpoint=", false},
		{"s3://bsi-repo?region=eu-west-1", "", "", true},
		{"s3://bsi-repo?endpoint=http://127.0.0.1:9000&use_path_style=true", "", "", true},
		{"azblob://container", "storage_account", "?storage_account=NAME", false},
		{"azblob://container?storage_account=acct", "", "", true},
		// Old code: the driver's "protocol "https" not allowed when
		// IsLocalEmulator is true", or a request to blob.core.windows.net.
		{"azblob://c?storage_account=a&localemu=true", "domain", "&domain=127.0.0.1:10000", false},
		{"azblob://c?storage_account=a&localemu=true&domain=127.0.0.1:10000", "protocol", "&protocol=http", false},
		{"azblob://c?storage_account=a&localemu=true&domain=127.0.0.1:10000&protocol=http", "", "", true},
		// Old code: requests went to AWS itself (path style, plain HTTP).
		{"s3://b?region=r&use_path_style=true", "endpoint", "&endpoint=http://HOST:PORT", false},
		{"s3://b?region=r&disable_https=true", "endpoint", "&endpoint=http://HOST:PORT", false},
		// Old code: a warning on stdout, then a request that failed with
		// "private key should be a PEM".
		{"gs://bsi-repo", "credentials", "GOOGLE_APPLICATION_CREDENTIALS", false},
	} {
		t.Run(tc.dest, func(t *testing.T) {
			d, closeDest, err := OpenDestination(t.Context(), tc.dest)
			if tc.ok {
				if err != nil {
					t.Fatalf("OpenDestination(%s): %v", tc.dest, err)
				}
				closeDest()
				_ = d
				return
			}
			var me *MissingParameterError
			if !errors.As(err, &me) {
				t.Fatalf("OpenDestination(%s) = %v, want a *MissingParameterError", tc.dest, err)
			}
			if me.URL != tc.dest || me.Param != tc.param {
				t.Errorf("error names URL %q parameter %q, want %q %q", me.URL, me.Param, tc.dest, tc.param)
			}
			if msg := err.Error(); !strings.Contains(msg, tc.dest) || !strings.Contains(msg, tc.hint) {
				t.Errorf("error %q does not name %s or give the hint %q", msg, tc.dest, tc.hint)
			}
		})
	}
}

// TestOpenDestinationBadEndpoint: an S3 endpoint without a scheme is
// refused before any request, with the form it needs (old code: the SDK's
// "failed to parse endpoint URL" at the first request).
func TestOpenDestinationBadEndpoint(t *testing.T) {
	noCloudEnv(t)
	for _, dest := range []string{"s3://b?endpoint=127.0.0.1:9000&region=r", "s3://b?endpoint=ftp://h:1&region=r", "s3://b?endpoint=http://&region=r"} {
		_, _, err := OpenDestination(t.Context(), dest)
		var be *BadParameterError
		if !errors.As(err, &be) || be.Param != "endpoint" || !strings.Contains(err.Error(), "endpoint=https://HOST:PORT") {
			t.Errorf("OpenDestination(%s) = %v, want a *BadParameterError with a hint", dest, err)
		}
	}
}

// TestCheckBlobParamsFromEnvironment: an Azure account from the
// environment is enough; gs:// needs no parameter.
func TestCheckBlobParamsFromEnvironment(t *testing.T) {
	for _, tc := range []struct {
		dest string
		env  map[string]string
		ok   bool
	}{
		{"azblob://c", nil, false},
		{"azblob://c", map[string]string{"AZURE_STORAGE_ACCOUNT": "acct"}, true},
		{"azblob://c", map[string]string{"AZURE_STORAGE_CONNECTION_STRING": "AccountName=a"}, true},
		{"azblob://c?localemu=true", map[string]string{"AZURE_STORAGE_ACCOUNT": "a", "AZURE_STORAGE_DOMAIN": "127.0.0.1:1", "AZURE_STORAGE_PROTOCOL": "http"}, true},
		{"azblob://c", map[string]string{"AZURE_STORAGE_ACCOUNT": "a", "AZURE_STORAGE_IS_LOCAL_EMULATOR": "true"}, false},
		{"gs://bucket", nil, true},
		{"mem://", nil, true},
	} {
		err := checkBlobParams(tc.dest, func(k string) string { return tc.env[k] })
		if (err == nil) != tc.ok {
			t.Errorf("checkBlobParams(%s, %v) = %v, want ok=%v", tc.dest, tc.env, err, tc.ok)
		}
	}
}
