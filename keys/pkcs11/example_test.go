package pkcs11_test

import (
	"fmt"

	"github.com/bsiframework/bsi/keys/pkcs11"
)

// A URI names the module, the token and the key; Parse checks it strictly
// and String gives it back in canonical form.
func ExampleParse() {
	u, err := pkcs11.Parse("pkcs11:token=bsi-root;object=root-1;id=%01?module-name=softhsm2")
	if err != nil {
		panic(err)
	}
	fmt.Println(u.Token, u.Object, u.ID, u.ModuleName)
	fmt.Println(u)

	_, err = pkcs11.Parse("pkcs11:token=bsi-root;object=root-1?pin-value=123456")
	fmt.Println(err != nil)
	// Output:
	// bsi-root root-1 [1] softhsm2
	// pkcs11:token=bsi-root;object=root-1;id=%01?module-name=softhsm2
	// true
}
