import {useEffect, useState} from 'react';
import {Banner, Box, Button, Select, TextField} from '@stripe/ui-extension-sdk/ui';

import {ApiError, previewMapping, sendTest, toApiError} from '../api';
import type {Identity, Mapping, Preview, TestSend} from '../api';
import ErrorBanner from './ErrorBanner';
import Section from './Section';

type Props = {
  identity: Identity;
  /** The saved mappings: a test send uses the saved version of the one chosen. */
  mappings: Mapping[];
  /** The mapping as it stands in the editor (unsaved edits included), for the preview. */
  draftOf: (name: string) => Mapping | undefined;
};

type Outcome = {kind: 'sent'; result: TestSend} | {kind: 'preview'; result: Preview} | {kind: 'error'; error: ApiError};


/** Preview a mapping, or send its message to one number: Meta's answer (wamid or meaning) is shown. */
const TestSendSection = ({identity, mappings, draftOf}: Props) => {
  const [mapping, setMapping] = useState(mappings[0]?.name ?? '');
  const [phone, setPhone] = useState('');
  const [pending, setPending] = useState(false);
  const [outcome, setOutcome] = useState<Outcome | null>(null);

  // A save may remove the chosen mapping: fall back to the first one.
  useEffect(() => {
    if (!mappings.some((m) => m.name === mapping)) setMapping(mappings[0]?.name ?? '');
  }, [mappings, mapping]);

  const run = async (action: () => Promise<Outcome>) => {
    setPending(true);
    setOutcome(null);
    try {
      setOutcome(await action());
    } catch (exc) {
      setOutcome({kind: 'error', error: toApiError(exc)});
    } finally {
      setPending(false);
    }
  };

  const send = () => run(async () => ({kind: 'sent', result: await sendTest(identity, mapping, phone.trim())}));
  const preview = () =>
    run(async () => {
      const draft = draftOf(mapping) ?? mappings.find((m) => m.name === mapping);
      if (!draft) throw new ApiError(0, `No mapping named ${mapping}.`);
      return {kind: 'preview', result: await previewMapping(identity, draft)};
    });

  if (mappings.length === 0) {
    return (
      <Section title="Test send">
        <Box css={{color: 'secondary'}}>Save a mapping first, then send yourself its message here.</Box>
      </Section>
    );
  }
  return (
    <Section
      title="Test send"
      description="Preview renders the mapping as edited above against a sample event; Send test sends the saved mapping's message to one number."
    >
      <Box css={{stack: 'x', gap: 'small', alignY: 'bottom'}}>
        <Select label="Mapping" name="test_mapping" value={mapping} onChange={(e) => setMapping(e.target.value)}>
          {mappings.map((m) => (
            <option key={m.name} value={m.name}>
              {m.name}
            </option>
          ))}
        </Select>
        <TextField
          label="Phone number"
          name="test_phone"
          type="tel"
          placeholder="+14155550123"
          value={phone}
          onChange={(e) => setPhone(e.target.value)}
        />
      </Box>
      <Box css={{stack: 'x', gap: 'small'}}>
        <Button onPress={preview} disabled={pending || !mapping}>
          Preview
        </Button>
        <Button type="primary" onPress={send} pending={pending} disabled={!mapping || phone.trim() === ''}>
          Send test
        </Button>
      </Box>
      {outcome?.kind === 'sent' ? (
        <Banner
          title={outcome.result.dry_run ? 'Dry run: nothing was sent' : `Sent to ${outcome.result.to}`}
          description={`WhatsApp message id: ${outcome.result.wamid}`}
        />
      ) : null}
      {outcome?.kind === 'preview' ? (
        <Box css={{stack: 'y', gap: 'xsmall'}}>
          <Box css={{font: 'caption', color: 'secondary'}}>{`Preview for ${outcome.result.event_type}`}</Box>
          <Box css={{padding: 'small', wordBreak: 'break-word'}}>{outcome.result.text}</Box>
        </Box>
      ) : null}
      {outcome?.kind === 'error' ? <ErrorBanner error={outcome.error} /> : null}
    </Section>
  );
};

export default TestSendSection;
