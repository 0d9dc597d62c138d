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
		{"gs://bucket", nil, true},
		{"mem://", nil, true},
	} {
		err := checkBlobParams(tc.dest, func(k string) string { return tc.env[k] })
		if (err == nil) != tc.ok {
			t.Errorf("checkBlobParams(%s, %v) = %v, want ok=%v", tc.dest, tc.env, err, tc.ok)
		}
	}
}
