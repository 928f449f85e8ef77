/**
 * Finds the Apache Kafka broker that infra/install.sh puts in the cache: a directory whose
 * `libs/` holds the jars of `org.apache.kafka:kafka_2.13` and its runtime classpath (resolved by
 * Maven from Maven Central), with the licence the install checked (`LICENSE.spdx`). `KAFKA_HOME`
 * (a directory with `libs/`) first, then the cache of the pinned version; java from `JAVA_BIN`
 * or PATH. Kafka is jars, not one binary, so it is found here rather than in binaries.ts.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { cacheDir, type Source, type ToolStatus } from './binaries.js';

/** A Kafka distribution: where its jars are and which version they are. */
export interface KafkaDist {
  home: string;
  /** The classpath (`<home>/libs/*`). */
  classpath: string;
  version: string;
  source: Source;
  java: string;
}

/** The pinned Kafka version (infra/versions.env, read by install.sh too). */
export function pinnedKafka(): string {
  const text = readFileSync(new URL('./versions.env', import.meta.url), 'utf8');
  const m = /^KAFKA_VERSION=(.+)$/m.exec(text);
  if (!m?.[1]) throw new Error('infra/versions.env has no KAFKA_VERSION');
  return m[1].trim();
}

/** The broker jar's version in `<home>/libs` (kafka_2.13-<version>.jar), if any. */
export function kafkaVersionIn(home: string): string | undefined {
  try {
    for (const f of readdirSync(join(home, 'libs'))) {
      const m = /^kafka_2\.13-(\d+\.\d+\.\d+\S*)\.jar$/.exec(f);
      if (m) return m[1];
    }
  } catch {
    /* no libs */
  }
  return undefined;
}

function findJava(): string | undefined {
  if (process.env.JAVA_BIN) return process.env.JAVA_BIN;
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir && existsSync(join(dir, 'java'))) return join(dir, 'java');
  }
  return undefined;
}

/** The Java major version (17 for "17.0.15"), or undefined when java does not run. */
export function javaMajor(java: string): number | undefined {
  // `java -version` writes to stderr.
  const res = spawnSync(java, ['-version'], { encoding: 'utf8', timeout: 15_000 });
  const m = /version "(\d+)/.exec(`${res.stderr ?? ''}${res.stdout ?? ''}`);
  return m ? Number(m[1]) : undefined;
}

/** Where Kafka is, or why not (one line naming the fix). */
export function locateKafka(): KafkaDist | { error: string } {
  const java = findJava();
  if (!java) return { error: 'java not found: install Java 17 (apt-get install openjdk-17-jre-headless) or set JAVA_BIN' };
  const env = process.env.KAFKA_HOME;
  const pinned = pinnedKafka();
  const [home, source]: [string, Source] = env ? [env, 'env'] : [join(cacheDir(), `kafka-${pinned}`), 'cache'];
  const version = kafkaVersionIn(home);
  if (!version) {
    return {
      error: env
        ? `KAFKA_HOME=${env} has no libs/kafka_2.13-<version>.jar`
        : `kafka ${pinned} not found in ${home}: run 'npm run setup' (or set KAFKA_HOME to a directory with libs/)`,
    };
  }
  return { home, classpath: join(home, 'libs', '*'), version, source, java };
}

/** The distribution; throws the one-line fix when it is missing. */
export function requireKafka(): KafkaDist {
  const found = locateKafka();
  if ('error' in found) throw new Error(found.error);
  return found;
}

/** What doctor reports for Kafka (licence judged by the caller). */
export function probeKafka(): ToolStatus {
  const pinned = pinnedKafka();
  const found = locateKafka();
  if ('error' in found) return { ok: false, pinned, error: found.error };
  const major = javaMajor(found.java);
  if (major === undefined || major < 17) {
    return {
      ok: false,
      version: found.version,
      pinned,
      path: found.home,
      source: found.source,
      error: `kafka needs Java 17 or later; ${found.java} is ${major ?? 'not runnable'}`,
    };
  }
  return { ok: true, version: found.version, pinned, path: found.home, source: found.source };
}
