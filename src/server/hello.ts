/** The hello every connection (and `GET /v1/info`) gets: what the application says about itself, plus the protocol's fields. */
import type { FeatureConfig } from '../config.ts';
import type { ImageClassifier } from '../model/classifier.ts';
import { type HelloFeatures, type HelloMessage, type MqttInfo, PCM_FORMATS, PROTOCOL_VERSION } from '../protocol/index.ts';

/** What the application tells every client about itself (the server adds the protocol fields). */
export interface HelloInfo {
  model: { name: string; architecture: string };
  classes: readonly string[];
  features: FeatureConfig;
  confidenceThreshold: number;
  /** Per class, its recall on held-out packages (the model's cross-validation), when the model records one. */
  heldOutRecall?: Readonly<Record<string, number>>;
  streams: string[];
  /** The MQTT bridge's state, when there is one (shown in hello and /v1/info). */
  mqtt?: MqttInfo;
}

/** The hello of a server that runs `classifier` (its name, classes, feature config and threshold) for `streams`. */
export function helloFor(classifier: ImageClassifier, streams: string[] = []): HelloInfo {
  return {
    model: { name: classifier.name, architecture: classifier.architecture },
    classes: classifier.classes,
    features: classifier.features,
    confidenceThreshold: classifier.threshold,
    ...(classifier.heldOutRecall ? { heldOutRecall: classifier.heldOutRecall } : {}),
    streams,
  };
}

/** What the server adds to the application's HelloInfo. */
export interface HelloState {
  serverId: string;
  lastEventId: number;
  /** Open ingest stream ids (listed with the application's streams). */
  ingestStreams: Iterable<string>;
  ingest: { enabled: boolean; sampleRatesHz: number[]; maxFrameBytes: number; maxFramesPerSecond: number };
  /** Whether the server learns classes (POST /v1/learn). */
  learn: boolean;
}

/**
 * The wire's feature settings are the model's: a FeatureConfig field the hello schema lacks (or one of
 * another type) fails to compile here, so the schema cannot fall behind the feature settings.
 */
type MissingFromSchema = Exclude<keyof FeatureConfig, keyof HelloFeatures>;
type SchemaHasAll = [MissingFromSchema] extends [never] ? unknown : never;
const asHelloFeatures = (f: FeatureConfig): HelloFeatures & SchemaHasAll => ({ ...f });

/** Builds the hello message. */
export function helloMessage(info: HelloInfo, s: HelloState): HelloMessage {
  return {
    type: 'hello',
    protocolVersion: PROTOCOL_VERSION,
    serverId: s.serverId,
    model: { name: info.model.name, architecture: info.model.architecture },
    classes: [...info.classes],
    features: asHelloFeatures(info.features),
    confidenceThreshold: info.confidenceThreshold,
    ...(info.heldOutRecall ? { heldOut: { recall: { ...info.heldOutRecall } } } : {}),
    streams: [...new Set([...info.streams, ...s.ingestStreams])],
    lastEventId: s.lastEventId,
    ...(info.mqtt ? { mqtt: { ...info.mqtt } } : {}),
    ingest: { ...s.ingest, formats: [...PCM_FORMATS] },
    learn: { enabled: s.learn },
  };
}
