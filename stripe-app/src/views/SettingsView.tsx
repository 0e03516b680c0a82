/**
 * The app's settings page in the merchant's Stripe Dashboard (viewport "settings"): the WhatsApp
 * connection, the mappings, the templates, a test send and the recent deliveries, all read from and
 * saved to the bridge's /apps/v1 API (src/api.ts) as the signed-in user of the installing account.
 */
import {useCallback, useEffect, useMemo, useState} from 'react';
import {Box, Button, Divider, SettingsView, Spinner} from '@stripe/ui-extension-sdk/ui';
import type {ExtensionContextValue} from '@stripe/ui-extension-sdk/context';

import {ApiError, getDeliveries, getSettings, getTemplates, pullTemplates, toApiError, updateSettings} from '../api';
import type {Delivery, Identity, Settings, TemplateList} from '../api';
import ConnectionFields from '../components/ConnectionFields';
import DeliveriesSection from '../components/DeliveriesSection';
import ErrorBanner from '../components/ErrorBanner';
import MappingsSection from '../components/MappingsSection';
import TemplatesSection from '../components/TemplatesSection';
import TestSendSection from '../components/TestSendSection';
import {formFor, parseMappings, readForm} from '../settingsForm';
import type {SettingsForm} from '../settingsForm';

/** The fields the form shows a refusal's messages beside; the banner lists the others. */
const FORM_FIELDS = ['phone_number_id', 'business_account_id', 'access_token', 'mappings'];

const EMPTY_FORM: SettingsForm = {phoneNumberId: '', businessAccountId: '', accessToken: '', mappingsJson: '[]'};


/** The settings, the templates and the deliveries, each loaded on its own: one failing hides nothing else. */
function useBridgeData(identity: Identity) {
  const [settings, setSettings] = useState<Settings | null>(null);
  const [settingsError, setSettingsError] = useState<ApiError | null>(null);
  const [templates, setTemplates] = useState<TemplateList | null>(null);
  const [templatesError, setTemplatesError] = useState<ApiError | null>(null);
  const [pulling, setPulling] = useState(false);
  const [deliveries, setDeliveries] = useState<Delivery[] | null>(null);
  const [deliveriesError, setDeliveriesError] = useState<ApiError | null>(null);
  const [onlyFailed, setOnlyFailed] = useState(false);

  const loadSettings = useCallback(() => {
    setSettingsError(null);
    getSettings(identity).then(setSettings, (exc) => setSettingsError(toApiError(exc)));
    getTemplates(identity).then(
      (list) => {
        setTemplates(list);
        setTemplatesError(null);
      },
      (exc) => setTemplatesError(toApiError(exc)),
    );
  }, [identity]);

  const pull = useCallback(() => {
    setPulling(true);
    pullTemplates(identity)
      .then(
        (list) => {
          setTemplates(list);
          setTemplatesError(null);
        },
        (exc) => setTemplatesError(toApiError(exc)),
      )
      .finally(() => setPulling(false));
  }, [identity]);

  const loadDeliveries = useCallback(() => {
    getDeliveries(identity, onlyFailed ? {status: 'failed'} : {}).then(
      (list) => {
        setDeliveries(list.deliveries);
        setDeliveriesError(null);
      },
      (exc) => setDeliveriesError(toApiError(exc)),
    );
  }, [identity, onlyFailed]);

  useEffect(loadSettings, [loadSettings]);
  useEffect(loadDeliveries, [loadDeliveries]);

  return {
    settings,
    setSettings,
    settingsError,
    loadSettings,
    templates,
    templatesError,
    pulling,
    pull,
    deliveries,
    deliveriesError,
    onlyFailed,
    setOnlyFailed,
    loadDeliveries,
  };
}

const AppSettings = ({userContext}: ExtensionContextValue) => {
  const userId = userContext?.id ?? '';
  const accountId = userContext?.account?.id ?? '';
  const identity = useMemo<Identity>(() => ({userId, accountId}), [userId, accountId]);
  const data = useBridgeData(identity);
  const [form, setForm] = useState<SettingsForm>(EMPTY_FORM);
  const [refusal, setRefusal] = useState<ApiError | null>(null);
  const [statusMessage, setStatusMessage] = useState('');

  // Freshly loaded (or saved) settings reset the form; the token field starts empty every time.
  const {settings, setSettings} = data;
  useEffect(() => {
    if (settings) setForm(formFor(settings));
  }, [settings]);

  const change = (changes: Partial<SettingsForm>) => setForm((current) => ({...current, ...changes}));

  const save = async () => {
    if (!settings) return;
    const reading = readForm(settings, form);
    if ('problem' in reading) {
      setRefusal(new ApiError(0, 'The settings were not saved.', {[reading.field]: [reading.problem]}));
      setStatusMessage('Not saved');
      return;
    }
    if (Object.keys(reading.changes).length === 0) {
      setRefusal(null);
      setStatusMessage('Nothing to save');
      return;
    }
    setStatusMessage('Saving…');
    try {
      setSettings(await updateSettings(identity, reading.changes));
      setRefusal(null);
      setStatusMessage('Saved');
    } catch (exc) {
      setRefusal(toApiError(exc));
      setStatusMessage('Not saved');
    }
  };

  const draftOf = (name: string) => {
    const draft = parseMappings(form.mappingsJson);
    return typeof draft === 'string' ? undefined : draft.find((m) => m.name === name);
  };

  if (!settings) {
    return (
      <SettingsView>
        {data.settingsError ? (
          <Box css={{stack: 'y', gap: 'medium'}}>
            <ErrorBanner error={data.settingsError} title="Could not load the bridge settings" />
            <Button onPress={data.loadSettings}>Try again</Button>
          </Box>
        ) : (
          <Box css={{stack: 'y', alignX: 'center', padding: 'xlarge'}}>
            <Spinner size="large" />
          </Box>
        )}
      </SettingsView>
    );
  }

  return (
    <SettingsView onSave={save} statusMessage={statusMessage}>
      <Box css={{stack: 'y', gap: 'xlarge'}}>
        {refusal ? (
          <ErrorBanner error={refusal} shownElsewhere={FORM_FIELDS} onDismiss={() => setRefusal(null)} />
        ) : null}
        <ConnectionFields settings={settings} form={form} onChange={change} refusal={refusal} />
        <Divider />
        <MappingsSection
          mappings={settings.mappings}
          json={form.mappingsJson}
          onChange={(mappingsJson) => change({mappingsJson})}
          refusal={refusal}
        />
        <Divider />
        <TemplatesSection templates={data.templates} error={data.templatesError} pulling={data.pulling} onPull={data.pull} />
        <Divider />
        <TestSendSection identity={identity} mappings={settings.mappings} draftOf={draftOf} />
        <Divider />
        <DeliveriesSection
          deliveries={data.deliveries}
          error={data.deliveriesError}
          onlyFailed={data.onlyFailed}
          onFilter={data.setOnlyFailed}
          onRefresh={data.loadDeliveries}
        />
      </Box>
    </SettingsView>
  );
};

export default AppSettings;
