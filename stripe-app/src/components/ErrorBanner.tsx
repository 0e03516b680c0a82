import {Banner, Box} from '@stripe/ui-extension-sdk/ui';

import type {ApiError} from '../api';

type Props = {
  error: ApiError;
  title?: string;
  /** Fields whose messages the form already shows beside them. */
  shownElsewhere?: string[];
  onDismiss?: () => void;
};

/** A failed call as the merchant sees it: the backend's sentence, its findings, Meta's meaning and fix. */
const ErrorBanner = ({error, title, shownElsewhere, onDismiss}: Props) => {
  const findings = error.findings(shownElsewhere);
  const meta = error.meta_error;
  return (
    <Banner
      type="critical"
      title={title ?? error.error}
      onDismiss={onDismiss}
      description={
        <Box css={{stack: 'y', gap: 'xsmall'}}>
          {title ? <Box>{error.error}</Box> : null}
          {findings.map((finding) => (
            <Box key={finding} css={{fontFamily: 'monospace', wordBreak: 'break-word'}}>
              {finding}
            </Box>
          ))}
          {meta ? (
            <Box css={{stack: 'y', gap: 'xxsmall'}}>
              <Box>{`Meta error ${meta.code}: ${meta.title}`}</Box>
              <Box>{meta.meaning}</Box>
              <Box>{meta.fix}</Box>
            </Box>
          ) : null}
        </Box>
      }
    />
  );
};

export default ErrorBanner;
