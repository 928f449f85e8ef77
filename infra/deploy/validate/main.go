// Command validate decodes every Kubernetes object in the given YAML files strictly through
// client-go's scheme (the real API types of k8s.io/api): an unknown or duplicated field, a value
// of the wrong type, a bad quantity or an unregistered kind is an error. It prints one JSON
// document on stdout, {"objects":[{"file","kind","apiVersion","name","namespace"}],"errors":[...]},
// and exits 1 when any object fails, 2 on bad usage.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes/scheme"
)

type object struct {
	File       string `json:"file"`
	Kind       string `json:"kind"`
	APIVersion string `json:"apiVersion"`
	Name       string `json:"name"`
	Namespace  string `json:"namespace,omitempty"`
}

type report struct {
	Objects []object `json:"objects"`
	Errors  []string `json:"errors"`
}

func main() {
	if len(os.Args) < 2 || os.Args[1] == "--help" || os.Args[1] == "-h" {
		fmt.Fprintln(os.Stderr, "usage: validate <manifest.yaml>...  (strict decoding through client-go's scheme; JSON report on stdout)")
		os.Exit(2)
	}
	// EnableStrict: unknown and duplicate fields fail the decode instead of being dropped.
	decoder := serializer.NewCodecFactory(scheme.Scheme, serializer.EnableStrict).UniversalDeserializer()
	out := report{Objects: []object{}, Errors: []string{}}
	for _, path := range os.Args[1:] {
		docs, err := documents(path)
		if err != nil {
			out.Errors = append(out.Errors, fmt.Sprintf("%s: %v", path, err))
			continue
		}
		for i, doc := range docs {
			obj, gvk, err := decoder.Decode(doc, nil, nil)
			if err != nil {
				out.Errors = append(out.Errors, fmt.Sprintf("%s: document %d: %v", path, i+1, err))
				continue
			}
			m, err := meta.Accessor(obj)
			if err != nil {
				out.Errors = append(out.Errors, fmt.Sprintf("%s: document %d: %v", path, i+1, err))
				continue
			}
			if m.GetName() == "" {
				out.Errors = append(out.Errors, fmt.Sprintf("%s: document %d: %s has no metadata.name", path, i+1, gvk.Kind))
			}
			out.Objects = append(out.Objects, object{File: path, Kind: gvk.Kind, APIVersion: gvk.GroupVersion().String(), Name: m.GetName(), Namespace: m.GetNamespace()})
		}
	}
	enc := json.NewEncoder(os.Stdout)
	if err := enc.Encode(out); err != nil {
		os.Exit(2)
	}
	if len(out.Errors) > 0 {
		os.Exit(1)
	}
}

// documents splits a YAML file into its non-empty documents.
func documents(path string) ([][]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r := utilyaml.NewYAMLReader(bufio.NewReader(f))
	var docs [][]byte
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, err
		}
		if len(bytes.TrimSpace(stripComments(doc))) > 0 {
			docs = append(docs, doc)
		}
	}
}

// stripComments drops whole-line comments, so a document of comments only counts as empty.
func stripComments(doc []byte) []byte {
	var b bytes.Buffer
	for _, line := range bytes.Split(doc, []byte("\n")) {
		if t := bytes.TrimSpace(line); len(t) > 0 && t[0] != '#' {
			b.Write(line)
			b.WriteByte('\n')
		}
	}
	return b.Bytes()
}
