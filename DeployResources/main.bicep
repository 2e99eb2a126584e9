// Everything the video RAG function app needs, in one resource group:
//   Function App (Linux, Python 3.13, Flex Consumption FC1) + its plan
//   storage account (host storage, identity-based; blob container for deployment packages)
//   user-assigned managed identity (storage, Key Vault references, deployment storage)
//   Log Analytics workspace + Application Insights
//   Key Vault (RBAC) holding every secret; app settings are Key Vault references
//   Azure Database for PostgreSQL Flexible Server 16 (pgvector allow-listed) + database
// Azure OpenAI is NOT created here: pass an existing endpoint/deployments/key, or leave them
// empty and the app runs in offline mode.
//
// Deploy with `azd up` (see ../azure.yaml) or `DeployResources/deploy.sh`. Then run the
// migrations (`make migrate`) before the code is published; they never run at function start-up.

targetScope = 'resourceGroup'

// ---------------------------------------------------------------------------------------------
// Naming and placement
// ---------------------------------------------------------------------------------------------

@description('Short prefix of every resource name (azd passes the environment name). Letters and digits are kept; at most 10 of them are used.')
@minLength(1)
@maxLength(64)
param namePrefix string = 'vrag'

@description('Region of every resource. Flex Consumption is not in every region: `az functionapp list-flexconsumption-locations`.')
param location string = resourceGroup().location

@description('azd environment name, written to the azd-env-name tag (empty: no tag).')
param environmentName string = ''

@description('Extra tags for every resource.')
param tags object = {}

// ---------------------------------------------------------------------------------------------
// Function App (Flex Consumption)
// ---------------------------------------------------------------------------------------------

@description('Memory of one Flex Consumption instance, in MB.')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048

@description('Most instances the app scales out to. Each instance may open up to 10 PostgreSQL connections (pool_size 5 + max_overflow 5): keep instances x 10 within the server\'s user connections (35 on Burstable B1ms: 50 less 15 Azure reserves; hence 3, with 5 left for migrations and administration).')
@minValue(1)
@maxValue(1000)
param maximumInstanceCount int = 3

// ---------------------------------------------------------------------------------------------
// PostgreSQL
// ---------------------------------------------------------------------------------------------

@description('PostgreSQL administrator login (not a secret: the portal shows it). Not azure_superuser, admin, administrator, root, guest, public, nor starting with pg_.')
param postgresAdminLogin string = 'videoragadmin'

@secure()
@description('PostgreSQL administrator password (8 to 128 characters from three of: upper case, lower case, digits, symbols).')
@minLength(8)
@maxLength(128)
param postgresAdminPassword string

@description('PostgreSQL major version (the app needs 13+ with pgvector; Azure supports vector on all of them).')
param postgresVersion string = '16'

@description('Compute size of the server.')
param postgresSkuName string = 'Standard_B1ms'

@description('Compute tier of postgresSkuName.')
@allowed([
  'Burstable'
  'GeneralPurpose'
  'MemoryOptimized'
])
param postgresSkuTier string = 'Burstable'

@description('Storage of the server, in GiB.')
param postgresStorageSizeGB int = 32

@description('Name of the application database.')
param databaseName string = 'videorag'

@description('Public IPv4 address allowed to reach the server besides Azure services (your machine, for `make migrate`). Empty: no such rule.')
param clientIpAddress string = ''

// ---------------------------------------------------------------------------------------------
// App settings (README "Settings"). Secrets are stored in Key Vault; empty means "not used".
// ---------------------------------------------------------------------------------------------

@description('LLM_PROVIDER: openai, azure_openai or offline; empty lets the app infer it from the other settings.')
@allowed([
  ''
  'openai'
  'azure_openai'
  'offline'
])
param llmProvider string = ''

@secure()
@description('OPENAI_API_KEY (stored in Key Vault). Empty: not used.')
param openAiApiKey string = ''

@description('OPENAI_BASE_URL: an OpenAI-compatible server. Empty: api.openai.com.')
param openAiBaseUrl string = ''

@description('CHAT_MODEL')
param chatModel string = 'gpt-4o-mini'

@description('EMBEDDING_MODEL')
param embeddingModel string = 'text-embedding-3-small'

@description('EMBEDDING_PROVIDER: offline, openai or azure_openai; empty lets the app infer it from the other settings.')
@allowed([
  ''
  'offline'
  'openai'
  'azure_openai'
])
param embeddingProvider string = ''

@description('EMBEDDING_BASE_URL: an OpenAI-compatible server for embeddings only. Empty: OPENAI_BASE_URL.')
param embeddingBaseUrl string = ''

@secure()
@description('EMBEDDING_API_KEY (stored in Key Vault). Empty: OPENAI_API_KEY, unless embeddingBaseUrl names another server.')
param embeddingApiKey string = ''

@description('AZURE_OPENAI_ENDPOINT of an existing Azure OpenAI resource (https://<resource>.openai.azure.com). Empty: no Azure OpenAI.')
param azureOpenAiEndpoint string = ''

@secure()
@description('AZURE_OPENAI_API_KEY (stored in Key Vault). Empty: not used.')
param azureOpenAiApiKey string = ''

@description('AZURE_OPENAI_API_VERSION')
param azureOpenAiApiVersion string = '2024-10-21'

@description('AZURE_OPENAI_CHAT_DEPLOYMENT')
param azureOpenAiChatDeployment string = ''

@description('AZURE_OPENAI_EMBEDDING_DEPLOYMENT')
param azureOpenAiEmbeddingDeployment string = ''

@description('YOUTUBE_LANGUAGES: comma-separated transcript language preference.')
param youtubeLanguages string = 'en'

@secure()
@description('YOUTUBE_PROXY_HTTP_URL (http://user:pass@host:port; stored in Key Vault). Empty: not used.')
param youtubeProxyHttpUrl string = ''

@secure()
@description('YOUTUBE_PROXY_HTTPS_URL (stored in Key Vault). Empty: not used.')
param youtubeProxyHttpsUrl string = ''

@secure()
@description('WEBSHARE_PROXY_USERNAME (stored in Key Vault). Empty: not used.')
param webshareProxyUsername string = ''

@secure()
@description('WEBSHARE_PROXY_PASSWORD (stored in Key Vault). Empty: not used.')
param webshareProxyPassword string = ''

@description('SESSION_CLEANUP_SCHEDULE: NCRONTAB (six fields, UTC) of the cleanup timer. Must be set: the timer resolves %SESSION_CLEANUP_SCHEDULE% from the app settings.')
param sessionCleanupSchedule string = '0 0 0 * * *'

// How a setting reaches the app from `azd env set NAME value` or an exported NAME (deploy.sh):
// main.parameters.json maps every non-secret setting of appSettingDefaults below to the
// environment variable of the same name, inside appSettingOverrides; the secrets and the provider
// choices have parameters of their own (above). Unset variables arrive empty and keep the default.
@description('App settings, by name, that replace the defaults of appSettingDefaults (e.g. {"MAX_VIDEOS_PER_SESSION": "50"}). Values are strings; an empty value keeps the default. Put no secret here: use the secure parameters.')
param appSettingOverrides object = {}

// ---------------------------------------------------------------------------------------------
// Names
// ---------------------------------------------------------------------------------------------

var prefix = take(toLower(replace(replace(replace(namePrefix, '-', ''), '_', ''), '.', '')), 10)
var token = toLower(uniqueString(subscription().id, resourceGroup().id, namePrefix))
var baseName = '${prefix}-${token}'

var identityName = 'id-${baseName}'
var storageAccountName = take('st${prefix}${token}', 24)
var deploymentContainerName = 'app-package'
var logAnalyticsName = 'log-${baseName}'
var appInsightsName = 'appi-${baseName}'
var keyVaultName = take('kv${prefix}${token}', 24)
var planName = 'plan-${baseName}'
var functionAppName = 'func-${baseName}'
var postgresServerName = 'psql-${baseName}'

var commonTags = union(tags, empty(environmentName) ? {} : { 'azd-env-name': environmentName })

// Built-in role definitions.
var storageBlobDataOwnerRoleId = 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
var storageQueueDataContributorRoleId = '974c5e8b-45b9-4653-ba55-5f855dd0fb88'
var storageTableDataContributorRoleId = '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
var keyVaultSecretsUserRoleId = '4633458b-17de-408a-b874-0445c86b69e6'

// ---------------------------------------------------------------------------------------------
// Key Vault secrets and the app settings that reference them
// ---------------------------------------------------------------------------------------------

var secretNames = {
  databaseUrl: 'pg-vector-connection-string'
  openAiApiKey: 'openai-api-key'
  embeddingApiKey: 'embedding-api-key'
  azureOpenAiApiKey: 'azure-openai-api-key'
  youtubeProxyHttpUrl: 'youtube-proxy-http-url'
  youtubeProxyHttpsUrl: 'youtube-proxy-https-url'
  webshareProxyUsername: 'webshare-proxy-username'
  webshareProxyPassword: 'webshare-proxy-password'
}

// `@Microsoft.KeyVault(SecretUri=https://<vault>.vault.azure.net/secrets/<name>/)`: no version,
// so a rotated secret is picked up (within 24 h, or at once on a restart).
var keyVaultSecretsUri = 'https://${keyVaultName}${environment().suffixes.keyvaultDns}/secrets/'

var keyVaultReferencePrefix = '@Microsoft.KeyVault(SecretUri=${keyVaultSecretsUri}'

// An optional secret that was not given is an empty setting (the app reads blank as unset), not
// a reference to a secret that does not exist.
var databaseUrlReference = '${keyVaultReferencePrefix}${secretNames.databaseUrl}/)'
var openAiApiKeyReference = empty(openAiApiKey) ? '' : '${keyVaultReferencePrefix}${secretNames.openAiApiKey}/)'
var embeddingApiKeyReference = empty(embeddingApiKey) ? '' : '${keyVaultReferencePrefix}${secretNames.embeddingApiKey}/)'
var azureOpenAiApiKeyReference = empty(azureOpenAiApiKey) ? '' : '${keyVaultReferencePrefix}${secretNames.azureOpenAiApiKey}/)'
var youtubeProxyHttpUrlReference = empty(youtubeProxyHttpUrl) ? '' : '${keyVaultReferencePrefix}${secretNames.youtubeProxyHttpUrl}/)'
var youtubeProxyHttpsUrlReference = empty(youtubeProxyHttpsUrl) ? '' : '${keyVaultReferencePrefix}${secretNames.youtubeProxyHttpsUrl}/)'
var webshareProxyUsernameReference = empty(webshareProxyUsername) ? '' : '${keyVaultReferencePrefix}${secretNames.webshareProxyUsername}/)'
var webshareProxyPasswordReference = empty(webshareProxyPassword) ? '' : '${keyVaultReferencePrefix}${secretNames.webshareProxyPassword}/)'

// Every setting of the README "Settings" table, with the README default. Values are strings.
// A new setting: one line here, and (unless it is a secret) one line in main.parameters.json's
// appSettingOverrides, "NAME": "${NAME}", so that azd and deploy.sh can set it.
var appSettingDefaults = {
  PG_VECTOR_CONNECTION_STRING: databaseUrlReference
  // The original project's name for the same database: the same secret.
  PG_CONNECTION_STRING: databaseUrlReference
  SESSION_EXPIRE_MINUTES: '15'
  SESSION_MAX_HOURS: '24'
  SESSION_CLEANUP_SCHEDULE: sessionCleanupSchedule
  SESSION_CLEANUP_RUN_ON_STARTUP: 'false'
  SESSION_CLEANUP_BATCH_SIZE: '500'
  LANGCHAIN_CHAT_MESSAGE_TABLE_NAME: 'langchain_chat_message'
  MAX_REQUEST_BYTES: '2097152'
  LLM_PROVIDER: llmProvider
  OPENAI_API_KEY: openAiApiKeyReference
  OPENAI_BASE_URL: openAiBaseUrl
  CHAT_MODEL: chatModel
  EMBEDDING_PROVIDER: embeddingProvider
  EMBEDDING_BASE_URL: embeddingBaseUrl
  EMBEDDING_API_KEY: embeddingApiKeyReference
  EMBEDDING_MODEL: embeddingModel
  // Empty: the model's own width (256 offline, 1536 for text-embedding-3-*).
  EMBEDDING_DIMENSIONS: ''
  EMBEDDING_BATCH_SIZE: '256'
  AZURE_OPENAI_ENDPOINT: azureOpenAiEndpoint
  AZURE_OPENAI_API_KEY: azureOpenAiApiKeyReference
  AZURE_OPENAI_API_VERSION: azureOpenAiApiVersion
  AZURE_OPENAI_CHAT_DEPLOYMENT: azureOpenAiChatDeployment
  AZURE_OPENAI_EMBEDDING_DEPLOYMENT: azureOpenAiEmbeddingDeployment
  YOUTUBE_LANGUAGES: youtubeLanguages
  YOUTUBE_PROXY_HTTP_URL: youtubeProxyHttpUrlReference
  YOUTUBE_PROXY_HTTPS_URL: youtubeProxyHttpsUrlReference
  WEBSHARE_PROXY_USERNAME: webshareProxyUsernameReference
  WEBSHARE_PROXY_PASSWORD: webshareProxyPasswordReference
  MAX_VIDEOS_PER_REQUEST: '10'
  MAX_VIDEOS_PER_SESSION: '25'
  MAX_TRANSCRIPT_CHARS: '1000000'
  MAX_CAPTIONS_PER_UPLOAD: '50000'
  MAX_CHUNKS_PER_TRANSCRIPT: '2000'
  MAX_CHUNKS_PER_SESSION: '10000'
  INGEST_CONCURRENCY: '4'
  MAX_MESSAGE_CHARS: '2000'
  CHAT_RATE_LIMIT_PER_MINUTE: '10'
  CLIENT_CHAT_RATE_LIMIT_PER_MINUTE: '30'
  CLIENT_SESSION_RATE_LIMIT_PER_MINUTE: '10'
  CLIENT_PASSAGES_PER_HOUR: '20000'
  TRUSTED_PROXY_HOPS: '1'
  LLM_DAILY_TOKEN_BUDGET: '2000000'
  RETRIEVAL_K: '6'
  HISTORY_TOKEN_BUDGET: '1500'
  WHOLE_VIDEO_TOKEN_BUDGET: '60000'
  WHOLE_VIDEO_MAX_NOTE_CALLS: '8'
  NOT_FOUND_THRESHOLD: '29'
  MODEL_NOT_FOUND_THRESHOLD: '15'
  LLM_TIMEOUT_SECONDS: '30'
}

// An override left empty (its environment variable is not set) keeps the default.
var appSettingOverridesGiven = toObject(filter(items(appSettingOverrides), setting => !empty(string(setting.value))), setting => setting.key, setting => string(setting.value))
var appSettingValues = union(appSettingDefaults, appSettingOverridesGiven)
var appSettingsFromValues = map(items(appSettingValues), setting => {
  name: setting.key
  value: string(setting.value)
})

// Host settings; Flex Consumption takes the runtime from functionAppConfig and rejects
// FUNCTIONS_WORKER_RUNTIME, FUNCTIONS_EXTENSION_VERSION, WEBSITE_RUN_FROM_PACKAGE and the Azure
// Files content settings, so none of those is set.
var hostAppSettings = [
  // Host storage through the managed identity (no connection string, no key).
  {
    name: 'AzureWebJobsStorage__accountName'
    value: storage.name
  }
  {
    name: 'AzureWebJobsStorage__credential'
    value: 'managedidentity'
  }
  {
    name: 'AzureWebJobsStorage__clientId'
    value: identity.properties.clientId
  }
  {
    name: 'APPLICATIONINSIGHTS_CONNECTION_STRING'
    value: appInsights.properties.ConnectionString
  }
]

// ---------------------------------------------------------------------------------------------
// Identity, monitoring, storage
// ---------------------------------------------------------------------------------------------

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: identityName
  location: location
  tags: commonTags
}

resource logAnalytics 'Microsoft.OperationalInsights/workspaces@2022-10-01' = {
  name: logAnalyticsName
  location: location
  tags: commonTags
  properties: {
    sku: {
      name: 'PerGB2018'
    }
    retentionInDays: 30
  }
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' = {
  name: appInsightsName
  location: location
  tags: commonTags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: logAnalytics.id
  }
}

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: storageAccountName
  location: location
  tags: commonTags
  kind: 'StorageV2'
  sku: {
    name: 'Standard_LRS'
  }
  properties: {
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    allowBlobPublicAccess: false
    // Identity only: the host (AzureWebJobsStorage__*) and the deployment container use the
    // managed identity, so no account key is ever handed out.
    allowSharedKeyAccess: false
    defaultToOAuthAuthentication: true
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      defaultAction: 'Allow'
      bypass: 'AzureServices'
    }
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

resource deploymentContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: deploymentContainerName
  properties: {
    publicAccess: 'None'
  }
}

// The Functions host keeps timer schedules and leases in blobs (Blob Data Owner); queue and table
// access cover the host's other uses of AzureWebJobsStorage.
resource storageBlobOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, identity.id, storageBlobDataOwnerRoleId)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataOwnerRoleId)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

resource storageQueueContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, identity.id, storageQueueDataContributorRoleId)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageQueueDataContributorRoleId)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

resource storageTableContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, identity.id, storageTableDataContributorRoleId)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageTableDataContributorRoleId)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL Flexible Server
// ---------------------------------------------------------------------------------------------

resource postgres 'Microsoft.DBforPostgreSQL/flexibleServers@2024-08-01' = {
  name: postgresServerName
  location: location
  tags: commonTags
  sku: {
    name: postgresSkuName
    tier: postgresSkuTier
  }
  properties: {
    version: postgresVersion
    administratorLogin: postgresAdminLogin
    administratorLoginPassword: postgresAdminPassword
    authConfig: {
      activeDirectoryAuth: 'Disabled'
      passwordAuth: 'Enabled'
    }
    storage: {
      storageSizeGB: postgresStorageSizeGB
    }
    backup: {
      backupRetentionDays: 7
      geoRedundantBackup: 'Disabled'
    }
    highAvailability: {
      mode: 'Disabled'
    }
    network: {
      publicNetworkAccess: 'Enabled'
    }
  }
}

// The server applies one change at a time, so its children are created one after another.

// pgvector must be allow-listed before the migrations can CREATE EXTENSION vector.
resource allowVectorExtension 'Microsoft.DBforPostgreSQL/flexibleServers/configurations@2024-08-01' = {
  parent: postgres
  name: 'azure.extensions'
  properties: {
    value: 'VECTOR'
    source: 'user-override'
  }
}

resource database 'Microsoft.DBforPostgreSQL/flexibleServers/databases@2024-08-01' = {
  parent: postgres
  name: databaseName
  properties: {
    charset: 'UTF8'
    collation: 'en_US.utf8'
  }
  dependsOn: [
    allowVectorExtension
  ]
}

// "Allow public access from any Azure service": 0.0.0.0 - 0.0.0.0. It admits every Azure
// address, other tenants' included; the password and TLS are what protect the server.
resource allowAzureServices 'Microsoft.DBforPostgreSQL/flexibleServers/firewallRules@2024-08-01' = {
  parent: postgres
  name: 'AllowAllAzureServicesAndResourcesWithinAzureIps'
  properties: {
    startIpAddress: '0.0.0.0'
    endIpAddress: '0.0.0.0'
  }
  dependsOn: [
    database
  ]
}

resource allowClientIp 'Microsoft.DBforPostgreSQL/flexibleServers/firewallRules@2024-08-01' = if (!empty(clientIpAddress)) {
  parent: postgres
  name: 'AllowDeployerClientIp'
  properties: {
    startIpAddress: clientIpAddress
    endIpAddress: clientIpAddress
  }
  dependsOn: [
    allowAzureServices
  ]
}

// ---------------------------------------------------------------------------------------------
// Key Vault
// ---------------------------------------------------------------------------------------------

resource keyVault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: keyVaultName
  location: location
  tags: commonTags
  properties: {
    tenantId: subscription().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 7
    publicNetworkAccess: 'Enabled'
  }
}

resource keyVaultSecretsUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(keyVault.id, identity.id, keyVaultSecretsUserRoleId)
  scope: keyVault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultSecretsUserRoleId)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

// The password is percent-encoded, so any character is safe in the URL.
resource databaseUrlSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  parent: keyVault
  name: secretNames.databaseUrl
  properties: {
    contentType: 'PostgreSQL URL'
    value: 'postgresql://${uriComponent(postgresAdminLogin)}:${uriComponent(postgresAdminPassword)}@${postgres.properties.fullyQualifiedDomainName}:5432/${databaseName}?sslmode=require'
  }
}

resource openAiApiKeySecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (!empty(openAiApiKey)) {
  parent: keyVault
  name: secretNames.openAiApiKey
  properties: {
    value: openAiApiKey
  }
}

resource embeddingApiKeySecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (!empty(embeddingApiKey)) {
  parent: keyVault
  name: secretNames.embeddingApiKey
  properties: {
    value: embeddingApiKey
  }
}

resource azureOpenAiApiKeySecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (!empty(azureOpenAiApiKey)) {
  parent: keyVault
  name: secretNames.azureOpenAiApiKey
  properties: {
    value: azureOpenAiApiKey
  }
}

resource youtubeProxyHttpUrlSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (!empty(youtubeProxyHttpUrl)) {
  parent: keyVault
  name: secretNames.youtubeProxyHttpUrl
  properties: {
    value: youtubeProxyHttpUrl
  }
}

resource youtubeProxyHttpsUrlSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (!empty(youtubeProxyHttpsUrl)) {
  parent: keyVault
  name: secretNames.youtubeProxyHttpsUrl
  properties: {
    value: youtubeProxyHttpsUrl
  }
}

resource webshareProxyUsernameSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (!empty(webshareProxyUsername)) {
  parent: keyVault
  name: secretNames.webshareProxyUsername
  properties: {
    value: webshareProxyUsername
  }
}

resource webshareProxyPasswordSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (!empty(webshareProxyPassword)) {
  parent: keyVault
  name: secretNames.webshareProxyPassword
  properties: {
    value: webshareProxyPassword
  }
}

// ---------------------------------------------------------------------------------------------
// Function App on Flex Consumption
// ---------------------------------------------------------------------------------------------

resource plan 'Microsoft.Web/serverfarms@2023-12-01' = {
  name: planName
  location: location
  tags: commonTags
  kind: 'functionapp'
  sku: {
    name: 'FC1'
    tier: 'FlexConsumption'
  }
  properties: {
    reserved: true // Linux
  }
}

resource functionApp 'Microsoft.Web/sites@2023-12-01' = {
  name: functionAppName
  location: location
  tags: union(commonTags, { 'azd-service-name': 'api' })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identity.id}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    // Key Vault references resolve with the user-assigned identity.
    keyVaultReferenceIdentity: identity.id
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storage.properties.primaryEndpoints.blob}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identity.id
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
      }
      runtime: {
        name: 'python'
        version: '3.13'
      }
    }
    siteConfig: {
      minTlsVersion: '1.2'
      appSettings: concat(hostAppSettings, appSettingsFromValues)
    }
  }
  dependsOn: [
    // Roles and secrets first, so that the first start finds its storage and its references.
    deploymentContainer
    storageBlobOwner
    storageQueueContributor
    storageTableContributor
    keyVaultSecretsUser
    databaseUrlSecret
    openAiApiKeySecret
    embeddingApiKeySecret
    azureOpenAiApiKeySecret
    youtubeProxyHttpUrlSecret
    youtubeProxyHttpsUrlSecret
    webshareProxyUsernameSecret
    webshareProxyPasswordSecret
    allowAzureServices
  ]
}

// ---------------------------------------------------------------------------------------------
// Outputs (azd stores them in the environment; deploy.sh reads them). No secret here.
// ---------------------------------------------------------------------------------------------

output AZURE_FUNCTION_APP_NAME string = functionApp.name
output FUNCTION_APP_DEFAULT_HOSTNAME string = functionApp.properties.defaultHostName
output FUNCTION_APP_HEALTH_URL string = 'https://${functionApp.properties.defaultHostName}/api/health'
output POSTGRES_SERVER_NAME string = postgres.name
output POSTGRES_FQDN string = postgres.properties.fullyQualifiedDomainName
output POSTGRES_DATABASE string = database.name
output POSTGRES_ADMIN_LOGIN string = postgresAdminLogin
output AZURE_KEY_VAULT_NAME string = keyVault.name
output AZURE_STORAGE_ACCOUNT_NAME string = storage.name
