/**
 * The Kafka client library (@platformatic/kafka), loaded on first use. Importing it costs a
 * process 1-5 s (hundreds of modules; 5 s at a load of 14 on this 2-core machine), and most
 * processes that reach code able to talk to Kafka never do: an all-in-one cell on `--log sqlite`,
 * `cellctl drill` outside the Kafka drills, `cellctl up` without `--log kafka`. Every runtime use
 * of the library goes through here; types are imported with `import type`, which loads nothing.
 */
type KafkaLibrary = typeof import('@platformatic/kafka');

let loading: Promise<KafkaLibrary> | undefined;

/** The library, imported once per process on the first call. */
export function kafkaLibrary(): Promise<KafkaLibrary> {
  return (loading ??= import('@platformatic/kafka'));
}
