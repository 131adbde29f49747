package store_test

import (
	"errors"
	"fmt"
	"log"
	"os"

	"github.com/sttfast/sttfast/prim/store"
)

// Store an object in a directory under its content address, read it back checked, and see a
// tampered file refused.
func Example() {
	dir, err := os.MkdirTemp("", "store-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	var objects store.StorageProvider
	d, err := store.NewDir(dir, 0)
	if err != nil {
		log.Fatal(err)
	}
	objects = d

	key, _ := objects.Put([]byte("hello, seed"))
	again, _ := objects.Put([]byte("hello, seed")) // identical content: the same key, one file
	content, err := objects.Get(key)
	fmt.Println(key == again, string(content), err)

	os.WriteFile(d.Path(key), []byte("hello, evil"), 0o600)
	_, err = objects.Get(key)
	fmt.Println(err == nil, errors.Is(err, store.ErrCorrupt))
	// Output:
	// true hello, seed <nil>
	// false true
}
