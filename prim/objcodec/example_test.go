package objcodec_test

import (
	"bytes"
	"fmt"
	"io"
	"log"

	"github.com/sttfast/sttfast/prim/objcodec"
)

// Send an object and then a live feed of segments down one stream (here a buffer; in a program
// an sttfast Stream, which is an io.ReadWriter) and read both back, the object checked against
// its digest.
func Example() {
	var stream bytes.Buffer
	enc := objcodec.NewEncoder(&stream)
	key, err := enc.WriteObject([]byte("a whole file"))
	if err != nil {
		log.Fatal(err)
	}
	enc.BeginSegments()
	enc.WriteSegment([]byte("frame 1"))
	enc.WriteSegment([]byte("frame 2"))
	enc.EndSegments()

	dec := objcodec.NewDecoder(&stream, 1<<20, 64<<10)
	content, got, err := dec.ReadObject()
	fmt.Printf("%q %v %v\n", content, got == key, err)
	var segment []byte
	for {
		segment, err = dec.NextSegment(segment)
		if err == io.EOF { // the feed ended cleanly
			break
		}
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%s\n", segment)
	}
	// Output:
	// "a whole file" true <nil>
	// frame 1
	// frame 2
}
