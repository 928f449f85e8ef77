/**
 * Writes the manifest files of topology/k8s/objects.ts as YAML (the `yaml` package): one
 * document per object, `---` between them, each file's header and each note as `#` comments.
 * A collection that fits on its line is written there (`{ name: http, containerPort: 9100 }`),
 * a larger one as a block; a collection holding a comment is always a block. Deterministic: the same
 * plan gives the same bytes, so the checked-in files can be compared with a fresh render.
 */
import { Document, isMap, isPair, isScalar, isSeq, stringify, type Node, type Pair } from 'yaml';
import { k8sManifests, type K8sPlan, type ManifestDoc, type ManifestFile } from './objects.js';

/** The widest line a collection is written on; a wider one is a block. */
const WIDTH = 140;
const OPTIONS = { lineWidth: WIDTH, singleQuote: true, flowCollectionPadding: true } as const;

/** `text` as the lines of a comment (yaml puts `#` before each). */
const comment = (text: string) =>
  text
    .split('\n')
    .map((l) => ` ${l}`)
    .join('\n');

/** The length of `value` written on one line. */
function oneLineLength(value: unknown): number {
  return stringify(value, { ...OPTIONS, lineWidth: 0, collectionStyle: 'flow' }).trim().length;
}

/** Attaches each note above its key or sequence item; answers the collections that hold one (they stay blocks). */
function attachNotes(doc: Document, notes: ManifestDoc['notes'] = []): Set<Node> {
  const holders = new Set<Node>();
  for (const note of notes) {
    let node: unknown = doc.contents;
    for (const [i, key] of note.path.entries()) {
      if (!isMap(node) && !isSeq(node)) throw new Error(`note ${note.path.join('.')}: no collection at ${note.path.slice(0, i).join('.')}`);
      holders.add(node);
      const last = i === note.path.length - 1;
      if (isMap(node)) {
        const pair = node.items.find((p) => isScalar(p.key) && p.key.value === key) as Pair<Node, Node> | undefined;
        if (!pair) throw new Error(`note ${note.path.join('.')}: no key ${String(key)}`);
        if (last) pair.key.commentBefore = comment(note.text);
        node = pair.value;
      } else {
        const item = node.items[Number(key)] as Node | undefined;
        if (!item) throw new Error(`note ${note.path.join('.')}: no item ${String(key)}`);
        if (last) item.commentBefore = comment(note.text);
        node = item;
      }
    }
  }
  return holders;
}

/**
 * Chooses each collection's style: flow when it fits on its line from column `col` and holds no
 * comment, else a block whose entries start at column `indent`, their values chosen the same way.
 */
function chooseStyle(node: unknown, col: number, indent: number, holders: Set<Node>): void {
  if (!isMap(node) && !isSeq(node)) return;
  if (!holders.has(node) && col + oneLineLength(node.toJSON()) <= WIDTH) {
    node.flow = true;
    return;
  }
  if (isMap(node))
    for (const p of node.items) {
      if (!isPair(p)) continue;
      const key = String((p.key as { value?: unknown }).value);
      chooseStyle(p.value, indent + key.length + 2, indent + 2, holders);
    }
  else for (const item of node.items) chooseStyle(item, indent + 2, indent + 2, holders);
}

/** One object as a YAML document (no `---`). */
function renderDoc(d: ManifestDoc, header?: string): string {
  const doc = new Document(d.object, { aliasDuplicateObjects: false });
  const holders = attachNotes(doc, d.notes);
  if (!isMap(doc.contents)) throw new Error('a manifest object is a map');
  holders.add(doc.contents);
  chooseStyle(doc.contents, 0, 0, holders);
  // on the first key, not the document: yaml would put a blank line after a document's comment
  if (header) doc.contents.commentBefore = comment(header);
  return doc.toString(OPTIONS);
}

/** The text of one manifest file. */
export function renderFile(file: ManifestFile): string {
  return file.docs.map((d, i) => renderDoc(d, i === 0 ? file.header : undefined)).join('---\n');
}

/** Every file of a cluster of `plan.cells` cells, rendered: what `cellctl deploy k8s --out` writes. */
export function renderManifests(plan?: K8sPlan): { name: string; text: string }[] {
  return k8sManifests(plan).map((f) => ({ name: f.name, text: renderFile(f) }));
}
