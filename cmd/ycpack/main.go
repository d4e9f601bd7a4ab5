// Command ycpack writes dist/fn-handler.zip and dist/fn-callback.zip, the
// archives Yandex Cloud Functions builds photobot's functions from
// (`make package`).
package main

import (
	"crypto/sha256"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/photobot/photobot/yc/pack"
)

func main() {
	out := flag.String("o", "dist", "output directory")
	flag.Parse()
	if err := os.MkdirAll(*out, 0o755); err != nil {
		fail(err)
	}
	for _, fn := range pack.Functions {
		files, err := pack.Files(".", fn)
		if err != nil {
			fail(err)
		}
		data, err := pack.Zip(files)
		if err != nil {
			fail(err)
		}
		path := filepath.Join(*out, fn.Name+".zip")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			fail(err)
		}
		fmt.Printf("%s  %d files  %.1f KB  sha256 %x\n", path, len(files), float64(len(data))/1024, sha256.Sum256(data))
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "ycpack:", err)
	os.Exit(1)
}
