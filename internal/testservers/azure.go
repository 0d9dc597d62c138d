package testservers

import (
	"context"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
)

// azureCreatePublicContainer creates a container whose blobs anyone may
// read (what a publisher sets up for devices or a CDN origin).
func azureCreatePublicContainer(ctx context.Context, serviceURL, account, key, name string) error {
	cred, err := azblob.NewSharedKeyCredential(account, key)
	if err != nil {
		return err
	}
	c, err := azblob.NewClientWithSharedKeyCredential(serviceURL, cred, nil)
	if err != nil {
		return err
	}
	access := container.PublicAccessTypeBlob
	_, err = c.CreateContainer(ctx, name, &azblob.CreateContainerOptions{Access: &access})
	return err
}
