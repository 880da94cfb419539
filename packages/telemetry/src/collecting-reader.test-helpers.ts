import { MetricReader } from '@opentelemetry/sdk-metrics';

/** A metric reader the tests collect from by hand (`await reader.collect()`); it exports nothing. */
export class CollectingReader extends MetricReader {
  protected override onForceFlush(): Promise<void> {
    return Promise.resolve();
  }

  protected override onShutdown(): Promise<void> {
    return Promise.resolve();
  }
}
