import type {ReactNode} from 'react';
import {Box} from '@stripe/ui-extension-sdk/ui';

/** A titled block of the settings page. */
const Section = ({title, description, children}: {title: string; description?: string; children: ReactNode}) => (
  <Box css={{stack: 'y', gap: 'medium'}}>
    <Box css={{stack: 'y', gap: 'xsmall'}}>
      <Box css={{font: 'heading'}}>{title}</Box>
      {description ? <Box css={{font: 'caption', color: 'secondary'}}>{description}</Box> : null}
    </Box>
    {children}
  </Box>
);

export default Section;
